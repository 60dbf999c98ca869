import Foundation
import Logging
import ServiceLifecycle

/// The written retention schedule for biometric data (BIPA §15(a); GDPR Art. 5(1)(e)): a person's faces are destroyed
/// when they have had no interaction — an enrollment, a kiosk upload, a search that matched them — for the company's
/// `biometric_retention_days` (at most 1,095). A background service: at start and then daily, each company in batches of
/// `batch` persons, each batch one transaction audited `face.retention_delete`; the feed carries the deletes to the
/// index (photos go with it) and to every kiosk. The person's record stays; an employee who resigns is deleted at once
/// as before.
struct BiometricRetention: Service {
    let store: any TenancyRepository & PersonRepository
    let index: IndexService
    let clock: ServerClock
    let defaults: CompanySettings
    let logger: Logger
    var batch = 500
    static let interval = Duration.seconds(86_400)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let destroyed = try await sweep()
                    if destroyed > 0 { logger.notice("biometric retention destroyed \(destroyed) faces") }
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("the biometric retention sweep failed; retrying tomorrow",
                                 metadata: ["error": .string(String(describing: type(of: error)))])
                }
                try? await Task.sleep(for: Self.interval)
            }
        }
    }

    /// Destroys every company's idle faces; how many faces went.
    func sweep() async throws -> Int {
        var destroyed = 0
        for (companyID, settings) in try await store.companySettings(fallback: defaults) {
            destroyed += try await sweep(companyID: companyID, days: settings.biometricRetentionDays)
        }
        return destroyed
    }

    func sweep(companyID: Int64, days: Int) async throws -> Int {
        let before = Self.horizon(now: clock.now, days: days)
        var destroyed = 0
        while true {
            // Always from the first id: the batch just destroyed has no faces any more.
            let idle = try await store.idleBiometrics(companyID: companyID, before: before, afterID: 0, limit: batch)
            guard !idle.isEmpty else { break }
            destroyed += try await store.retentionDelete(companyID: companyID, personIDs: idle.map(\.id), days: days)
            try await index.catchUp(companyID)
            if idle.count < batch { break }
        }
        return destroyed
    }

    /// What the schedule will destroy within `window` from now: persons idle since before `now - days + window`, with
    /// the day each goes (the first `limit`, soonest first) and how many in all.
    func due(companyID: Int64, days: Int, window: TimeInterval, limit: Int) async throws -> (count: Int, persons: [Store.IdlePerson]) {
        let before = Self.horizon(now: clock.now.addingTimeInterval(window), days: days)
        var all: [Store.IdlePerson] = []
        var after: Int64 = 0
        while true {
            let page = try await store.idleBiometrics(companyID: companyID, before: before, afterID: after, limit: 1000)
            all += page
            guard page.count == 1000, let last = page.last else { break }
            after = last.id
        }
        all.sort { ($0.lastSeen, $0.id) < ($1.lastSeen, $1.id) }
        return (all.count, Array(all.prefix(limit)))
    }

    static func horizon(now: Date, days: Int) -> Date { now.addingTimeInterval(-Double(days) * 86_400) }
}
