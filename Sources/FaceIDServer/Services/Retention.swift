import Foundation
import Logging
import ServiceLifecycle

/// The feed's one retention rule, as a background service: every hour (and at start) each company's feed rows older than
/// `sync.tombstoneDays` are dropped — but never a row a consumer has not applied: the index (its lowest watermark) and
/// every kiosk that has acknowledged (its acknowledgement), and on a shared store every node that reported its index's
/// position in the last ten minutes. Cursors from before the purge answer 410 `cursor_expired`. (The
/// access log's retention runs with each append, in the same transaction.)
struct Retention: Service {
    let store: any TenancyRepository & FeedRepository & FeedFollowing & IdempotencyRepository
    let index: IndexService
    let clock: ServerClock
    let tombstoneDays: Int
    let logger: Logger
    static let interval = Duration.seconds(3600)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await sweep()
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("the feed retention sweep failed; retrying in an hour",
                                 metadata: ["error": .string(String(describing: type(of: error)))])
                }
                try? await Task.sleep(for: Self.interval)
            }
        }
    }

    /// Drops every company's feed rows older than the horizon (and idle shared rate-limit rows, and `Idempotency-Key`s older than a day).
    func sweep() async throws {
        // Shared rate-limit keys idle for two hours are back to their full allowance under every limit: their rows go.
        try await (store as? any SharedRateLimits)?.pruneRateLimits(idleSince: clock.now.addingTimeInterval(-7200))
        try await store.purgeIdempotencyKeys(claimedBefore: clock.now.addingTimeInterval(-Idempotency.lifetime))
        let horizon = clock.now.addingTimeInterval(-Double(tombstoneDays) * 86_400)
        for companyID in try await store.companyIDs() {
            // Every node sharing the store that reported recently must have applied a row before it goes (a node silent
            // longer loads the current faces when it returns, as a new node does).
            let others = try await store.lowestIndexPosition(
                companyID: companyID, reportedSince: Date().addingTimeInterval(-IndexService.reportLifetime))
            _ = try await store.purgeFeed(companyID: companyID, olderThan: horizon, notPast: min(index.lowWatermark(companyID), others ?? .max))
        }
    }
}
