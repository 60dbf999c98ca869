import Foundation

/// A company's settings and what changing them sets in motion: turning `store_images` off deletes the photos kept; a new
/// recognition model starts re-embedding the stored photos in the background (`GET /models/status`).
struct Tenancy: Sendable {
    let store: any TenancyRepository
    let images: any PhotoRepository
    let migration: ModelMigration
    /// The settings of a company whose row holds none.
    let defaults: CompanySettings
    /// The ceiling of `requests_per_minute` (`rateLimit.companyPerMinute`).
    let maximumPerMinute: Int

    /// Applies `patch` (each range checked) in one audited transaction, then acts on the change it made.
    func updateSettings(_ patch: CompanySettings.Patch, principal: Principal, origin: RequestOrigin) async throws -> CompanySettings {
        let maximum = maximumPerMinute
        let (before, settings) = try await store.updateSettings(
            companyID: principal.companyID, fallback: defaults, actor: principal.actor, origin: origin
        ) { current in try current.applying(patch, serverMaximumPerMinute: maximum) }
        // "Only while it is on" is what admins were told: turning it off deletes the photos kept so far.
        if !settings.storeImages { try await images.removeAllPhotos(companyID: principal.companyID) }
        // The switch is judged from the row the update changed, so two concurrent switches cannot both miss the job.
        if settings.model != before.model && settings.storeImages {
            migration.start(companyID: principal.companyID, model: settings.model)
        }
        return settings
    }
}
