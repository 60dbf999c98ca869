import Foundation
import Hummingbird

/// `GET /settings`, `PATCH /settings`.
struct SettingsController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.get, "/settings", .readSettings, use: show)
        routes.on(.patch, "/settings", .manageSettings, use: update)
    }

    @Sendable func show(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> SettingsResponse {
        SettingsResponse(settings: context.companySettings ?? services.defaultSettings)
    }

    @Sendable func update(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> SettingsResponse {
        let patch = try await request.decodeJSON(CompanySettings.Patch.self, limit: services.configuration.maxBodySize)
        let maximum = services.configuration.rateLimits.companyPerMinute
        let (before, settings) = try await services.store.updateSettings(
            companyID: principal.companyID, fallback: services.defaultSettings, actor: principal.actor,
            origin: services.origin(request, context)
        ) { current in try current.applying(patch, serverMaximumPerMinute: maximum) }
        // Turning store_images off deletes the photos kept so far: "only while it is on" is what admins were told.
        if !settings.storeImages { services.index.images.removeAll(companyID: principal.companyID) }
        // A new model: the stored photos are re-embedded in the background (`GET /models/status`).
        if settings.model != before.model && settings.storeImages {
            services.migration.start(companyID: principal.companyID, model: settings.model, services: services)
        }
        return SettingsResponse(settings: settings)
    }
}
