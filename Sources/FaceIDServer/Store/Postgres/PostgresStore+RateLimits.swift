import Foundation
import PostgresNIO

/// Rate limits every node shares: one row per key, taken by one `INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING`
/// (the row lock orders concurrent nodes; a refused take changes nothing). Times are the nodes' wall clocks in
/// microseconds; a clock behind the row's last update refills nothing rather than going negative.
extension PostgresStore: SharedRateLimits {
    func takeShared(_ key: String, capacity: Int, windowMicros: Int64, slidingWindow: Bool, nowMicros now: Int64,
                    commit: Bool) async throws -> Int? {
        if slidingWindow {
            return try await takeLogged(key, capacity: capacity, window: windowMicros, now: now, commit: commit)
        }
        let rate = Double(capacity) / Double(windowMicros)  // tokens per microsecond
        let cap = Double(capacity)
        if commit {
            let taken = try await fetch("""
                INSERT INTO rate_limits AS r (key, tokens, updated_micros) VALUES (\(key), \(cap - 1), \(now))
                ON CONFLICT (key) DO UPDATE SET
                    tokens = LEAST(\(cap), r.tokens + GREATEST(0, \(now) - r.updated_micros) * \(rate)) - 1,
                    updated_micros = GREATEST(r.updated_micros, \(now))
                WHERE LEAST(\(cap), r.tokens + GREATEST(0, \(now) - r.updated_micros) * \(rate)) >= 1
                RETURNING tokens
                """, logger: logger).decode(Double?.self).elements()
            if !taken.isEmpty { return nil }
        }
        let tokens = try await fetch("""
            SELECT LEAST(\(cap), tokens + GREATEST(0, \(now) - updated_micros) * \(rate)) FROM rate_limits WHERE key = \(key)
            """, logger: logger).decode(Double?.self).elements().first ?? nil
        guard let tokens, tokens < 1 else { return nil }
        return max(1, Int(((1 - tokens) / rate / 1e6).rounded(.up)))
    }

    /// At most `capacity` accepted in any window: the row keeps the accepted times still in the window.
    private func takeLogged(_ key: String, capacity: Int, window: Int64, now: Int64, commit: Bool) async throws -> Int? {
        let start = now - window
        if commit {
            let taken = try await fetch("""
                INSERT INTO rate_limits AS r (key, updated_micros, times) VALUES (\(key), \(now), ARRAY[\(now)]::BIGINT[])
                ON CONFLICT (key) DO UPDATE SET
                    times = ARRAY(SELECT t FROM unnest(r.times) t WHERE t > \(start) ORDER BY t) || \(now)::BIGINT,
                    updated_micros = GREATEST(r.updated_micros, \(now))
                WHERE (SELECT count(*) FROM unnest(r.times) t WHERE t > \(start)) < \(Int64(capacity))
                RETURNING 1
                """, logger: logger).decode(Int32.self).elements()
            if !taken.isEmpty { return nil }
        }
        let times = try await fetch("""
            SELECT t FROM rate_limits, unnest(times) t WHERE key = \(key) AND t > \(start) ORDER BY t
            """, logger: logger).decode(Int64.self).elements()
        guard times.count >= capacity else { return nil }
        // Accepted again once the request `capacity` places back leaves the window.
        return max(1, Int((Double(times[times.count - capacity] + window - now) / 1e6).rounded(.up)))
    }

    func liveNodeCount(since: Date) async throws -> Int {
        Int(try await fetch("SELECT count(DISTINCT node) FROM index_nodes WHERE reported_at >= \(since)", logger: logger)
            .decode(Int64.self).elements().first ?? 0)
    }

    /// Drops keys untouched since `idleSince` (every limit's window is at most an hour).
    func pruneRateLimits(idleSince: Date) async throws {
        _ = try await fetch(
            "DELETE FROM rate_limits WHERE updated_micros < \(Int64(idleSince.timeIntervalSince1970 * 1e6))", logger: logger)
    }
}
