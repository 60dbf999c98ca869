import Foundation
import Logging
import Synchronization

/// In-process rate limits, keyed by a string such as `login-email:a@b.c` or `company:3`, of two kinds:
///
/// - **Quotas** (`Limit.atMost(_:per:)`): at most `capacity` requests in *any* `window` — a sliding log of the
///   accepted requests' times. What a contract promises ("max 100 registrations per minute") is this: a burst and
///   a refill can never add up past it.
/// - **Throttles** (`Limit.perMinute`): token buckets holding up to `capacity` tokens, refilled at
///   `capacity / window`. Smooth and cheap (one number per key) for the high general limits, where a burst of
///   `capacity` plus the refill within one window is acceptable.
///
/// A refused caller gets the seconds until a request would be accepted (the `Retry-After` value).
final class RateLimiter: Sendable {
    struct Limit: Sendable {
        /// How requests are counted: a token bucket (a throttle) or a sliding log (a quota).
        enum Policy: Sendable {
            case tokenBucket
            case slidingWindow
        }

        var capacity: Int
        var window: Duration
        var policy: Policy = .tokenBucket

        /// A token-bucket throttle of `count` per minute.
        static func perMinute(_ count: Int) -> Limit { Limit(capacity: count, window: .seconds(60)) }
        /// A quota: at most `count` accepted in any `window`.
        static func atMost(_ count: Int, per window: Duration) -> Limit {
            Limit(capacity: count, window: window, policy: .slidingWindow)
        }
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    /// The accepted requests' times within the window, oldest first.
    private struct Log {
        var times: [ContinuousClock.Instant] = []
        var updated: ContinuousClock.Instant

        mutating func drop(olderThan start: ContinuousClock.Instant) {
            if let first = times.firstIndex(where: { $0 > start }) {
                if first > 0 { times.removeFirst(first) }
            } else {
                times.removeAll(keepingCapacity: true)
            }
        }
    }

    private struct Tables {
        var buckets: [String: Bucket] = [:]
        var logs: [String: Log] = [:]
    }

    private let tables = Mutex(Tables())
    private let now: @Sendable () -> ContinuousClock.Instant
    /// Nodes sharing a PostgreSQL store count against one allowance there; nil: this process is the only one.
    private let shared: (any SharedRateLimits)?
    private let wallNow: @Sendable () -> Date
    private let logger: Logger
    /// The live nodes last counted (the fallback's divisor), and when.
    private let nodes = Mutex<(count: Int, at: ContinuousClock.Instant?)>((1, nil))
    /// Idle keys are dropped when a table grows past this, bounding memory under address spraying.
    private let pruneThreshold = 100_000
    /// A key untouched this long is back to its full allowance under every limit in use (the longest window is an hour).
    private let idleAfter = Duration.seconds(3600)

    /// - Parameter now: the clock (injected by tests; the continuous clock otherwise).
    /// - Parameters:
    ///   - shared: the allowance every node shares (PostgreSQL); this process's own tables stand in front of it (a key this
    ///     node alone has used up is refused without asking) and, while it cannot be reached, behind it: the limit divided
    ///     by the live nodes, so the nodes together stay near it.
    ///   - wallNow: the wall clock the shared rows are kept in (nodes' clocks agree through NTP).
    init(now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }, shared: (any SharedRateLimits)? = nil,
         wallNow: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "faceid.ratelimit")) {
        self.now = now
        self.shared = shared
        self.wallNow = wallNow
        self.logger = logger
    }

    /// Takes one request from `key`'s allowance; returns nil when allowed, else the seconds to wait.
    func take(_ key: String, limit: Limit) async -> Int? {
        await decide(key, limit: limit, commit: true)
    }

    /// Whether a request would be allowed, without counting it (for "failures only" limits such as login).
    func check(_ key: String, limit: Limit) async -> Int? {
        await decide(key, limit: limit, commit: false)
    }

    private func decide(_ key: String, limit: Limit, commit: Bool) async -> Int? {
        guard let shared else { return consume(key, limit: limit, commit: commit) }
        if let wait = consume(key, limit: limit, commit: false) { return wait }
        do {
            let micros = Int64(wallNow().timeIntervalSince1970 * 1e6)
            let window = Int64(Self.seconds(limit.window) * 1e6)
            let wait = try await shared.takeShared(key, capacity: max(limit.capacity, 1), windowMicros: window,
                                                   slidingWindow: limit.policy == .slidingWindow, nowMicros: micros, commit: commit)
            if wait == nil && commit { _ = consume(key, limit: limit, commit: true) }
            return wait
        } catch {
            let nodes = await liveNodes(shared)
            logger.warning("the shared rate limits are unreachable; this node allows its share", metadata: [
                "nodes": .stringConvertible(nodes), "error": .string(String(describing: type(of: error))),
            ])
            var share = limit
            share.capacity = max(1, limit.capacity / nodes)
            return consume("fallback:" + key, limit: share, commit: commit)
        }
    }

    /// The nodes that reported in the last minute (at least 1), counted at most every 30 s; the last count while the store
    /// does not answer.
    private func liveNodes(_ shared: any SharedRateLimits) async -> Int {
        let instant = now()
        let (count, at) = nodes.withLock { $0 }
        if let at, instant - at < .seconds(30) { return count }
        let counted = (try? await shared.liveNodeCount(since: wallNow().addingTimeInterval(-60))).map { max(1, $0) } ?? count
        nodes.withLock { $0 = (counted, instant) }
        return counted
    }

    private func consume(_ key: String, limit: Limit, commit: Bool) -> Int? {
        let now = now()
        return tables.withLock { tables -> Int? in
            let wait = switch limit.policy {
            case .tokenBucket: Self.takeToken(&tables.buckets, key: key, limit: limit, now: now, commit: commit)
            case .slidingWindow: Self.logRequest(&tables.logs, key: key, limit: limit, now: now, commit: commit)
            }
            prune(&tables, now: now)
            return wait
        }
    }

    private static func takeToken(_ buckets: inout [String: Bucket], key: String, limit: Limit, now: ContinuousClock.Instant,
                                  commit: Bool) -> Int? {
        let capacity = Double(max(limit.capacity, 1))
        let refillPerSecond = capacity / seconds(limit.window)
        var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
        bucket.tokens = min(capacity, bucket.tokens + seconds(now - bucket.updated) * refillPerSecond)
        bucket.updated = now
        let allowed = bucket.tokens >= 1
        if allowed && commit { bucket.tokens -= 1 }
        buckets[key] = bucket
        return allowed ? nil : max(1, Int(((1 - bucket.tokens) / refillPerSecond).rounded(.up)))
    }

    private static func logRequest(_ logs: inout [String: Log], key: String, limit: Limit, now: ContinuousClock.Instant,
                                   commit: Bool) -> Int? {
        var log = logs[key] ?? Log(updated: now)
        log.drop(olderThan: now - limit.window)
        log.updated = now
        let capacity = max(limit.capacity, 1)
        // When full: accepted again once the request `capacity` places back leaves the window.
        let wait = log.times.count < capacity
            ? nil : max(1, Int(seconds(log.times[log.times.count - capacity] + limit.window - now).rounded(.up)))
        if wait == nil && commit { log.times.append(now) }
        logs[key] = log
        return wait
    }

    private func prune(_ tables: inout Tables, now: ContinuousClock.Instant) {
        let idleAfter = idleAfter
        if tables.buckets.count > pruneThreshold { tables.buckets = tables.buckets.filter { now - $0.value.updated < idleAfter } }
        if tables.logs.count > pruneThreshold { tables.logs = tables.logs.filter { now - $0.value.updated < idleAfter } }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}
