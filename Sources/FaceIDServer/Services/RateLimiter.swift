import Foundation
import Synchronization

/// In-process token buckets, keyed by a string such as `login-email:a@b.c` or `company:3`.
///
/// A bucket holds up to `capacity` tokens and refills at `capacity / window`; a request takes one.
/// When empty, the caller gets the seconds until one token is back (the `Retry-After` value).
final class RateLimiter: Sendable {
    struct Limit: Sendable {
        var capacity: Int
        var window: Duration

        static func perMinute(_ count: Int) -> Limit { Limit(capacity: count, window: .seconds(60)) }
        static func perHour(_ count: Int) -> Limit { Limit(capacity: count, window: .seconds(3600)) }
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock = ContinuousClock()
    /// Idle buckets are dropped when the table grows past this, bounding memory under address spraying.
    private let pruneThreshold = 100_000
    /// A bucket untouched this long is full again under every limit in use (the longest window is an hour).
    private let idleAfter = Duration.seconds(3600)

    /// Takes a token from `key`'s bucket; returns nil when allowed, else the seconds to wait.
    func take(_ key: String, limit: Limit, cost: Double = 1) -> Int? {
        consume(key, limit: limit, cost: cost, commit: true)
    }

    /// Whether a token is available, without taking it (for "failures only" limits such as login).
    func check(_ key: String, limit: Limit) -> Int? {
        consume(key, limit: limit, cost: 1, commit: false)
    }

    private func consume(_ key: String, limit: Limit, cost: Double, commit: Bool) -> Int? {
        let now = clock.now
        let capacity = Double(max(limit.capacity, 1))
        let window = Double(limit.window.components.seconds) + Double(limit.window.components.attoseconds) * 1e-18
        let refillPerSecond = capacity / window
        return buckets.withLock { table -> Int? in
            var bucket = table[key] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(capacity, bucket.tokens + seconds * refillPerSecond)
            bucket.updated = now
            guard bucket.tokens >= cost else {
                table[key] = bucket
                return max(1, Int(((cost - bucket.tokens) / refillPerSecond).rounded(.up)))
            }
            if commit { bucket.tokens -= cost }
            table[key] = bucket
            if table.count > pruneThreshold {
                let idleAfter = idleAfter
                table = table.filter { now - $0.value.updated < idleAfter }
            }
            return nil
        }
    }
}
