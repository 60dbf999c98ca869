import Foundation
import Synchronization
import Testing

@testable import FaceIDServer

@Suite("Rate limits")
struct RateLimitTests {
    static func expectLimited(_ reply: Reply, sourceLocation: SourceLocation = #_sourceLocation) {
        expectError(reply, .tooManyRequests, "rate_limited", sourceLocation: sourceLocation)
        let retry = Int(reply.headers[.retryAfter] ?? "") ?? 0
        #expect(retry >= 1, "Retry-After: \(reply.headers[.retryAfter] ?? "absent")", sourceLocation: sourceLocation)
    }

    @Test func registrationsPerSourceAddress() async throws {
        try await TestServer { $0.rateLimits.registerPerHour = 2 }.run { client in
            _ = try await client.register("One", from: "192.0.2.1")
            _ = try await client.register("Two", from: "192.0.2.1")
            Self.expectLimited(try await client.call(.post, "/register", json: JSON([
                "company_name": "Three", "email": "three@example.com", "password": Client.password,
            ]), from: "192.0.2.1"))
            // Another address has its own bucket.
            _ = try await client.register("Four", from: "192.0.2.2")
        }
    }

    @Test func loginFailuresPerEmailLockEvenTheRightPassword() async throws {
        try await TestServer { $0.rateLimits.loginFailuresPerEmail = 3 }.run { client in
            let tenant = try await client.register("Acme")
            for index in 0..<3 {
                let reply = try await client.call(.post, "/login", json: JSON(["email": tenant.email, "password": "wrong password"]),
                                                  from: "192.0.2.\(index + 10)")
                expectError(reply, .unauthorized, "invalid_login")
            }
            Self.expectLimited(try await client.call(.post, "/login", json: JSON(["email": tenant.email, "password": Client.password]),
                                                     from: "192.0.2.99"))
            // The token already issued keeps working.
            #expect(try await client.call(.get, "/me", as: tenant.caller).status == .ok)
        }
    }

    @Test func loginFailuresPerSourceAddress() async throws {
        try await TestServer { $0.rateLimits.loginFailuresPerAddress = 4 }.run { client in
            let tenant = try await client.register("Acme")
            for index in 0..<4 {
                let reply = try await client.call(.post, "/login", json: JSON([
                    "email": "guess\(index)@acme.example", "password": "wrong password",
                ]), from: "192.0.2.50")
                expectError(reply, .unauthorized, "invalid_login")
            }
            Self.expectLimited(try await client.call(.post, "/login", json: JSON(["email": tenant.email, "password": Client.password]),
                                                     from: "192.0.2.50"))
            #expect(try await client.call(.post, "/login", json: JSON(["email": tenant.email, "password": Client.password]),
                                          from: "192.0.2.51").status == .ok)
        }
    }

    @Test func perCredentialAndPerCompanyBuckets() async throws {
        // The server's clock stands still: no token comes back unless the test moves time.
        let clock = ServerClock.manual()
        try await TestServer(clock: clock) { $0.rateLimits.credentialPerMinute = 5 }.run { client in
            let tenant = try await client.register("Acme")
            // Register is public; spend the session's five.
            for _ in 0..<5 { #expect(try await client.call(.get, "/me", as: tenant.caller).status == .ok) }
            Self.expectLimited(try await client.call(.get, "/me", as: tenant.caller))
            // One token every 12 s.
            clock.advance(by: .seconds(12))
            #expect(try await client.call(.get, "/me", as: tenant.caller).status == .ok)
            Self.expectLimited(try await client.call(.get, "/me", as: tenant.caller))
            // Another session of the same company has its own credential bucket.
            let login = try await client.call(.post, "/login", json: JSON(["email": tenant.email, "password": Client.password]))
            #expect(try await client.call(.get, "/me", as: .token(login["token"] as? String ?? "")).status == .ok)
        }
        let companyClock = ServerClock.manual()
        try await TestServer(clock: companyClock).run { client in
            let tenant = try await client.register("Acme")
            let patch = try await client.call(.patch, "/settings", as: tenant.caller, json: JSON(["requests_per_minute": 10]))
            #expect(patch.status == .ok, "\(patch.text)")
            let other = try await client.register("Bravo")
            // The bucket now holds ten: ten calls pass, the eleventh is refused…
            for _ in 0..<10 { #expect(try await client.call(.get, "/me", as: tenant.caller).status == .ok) }
            Self.expectLimited(try await client.call(.get, "/me", as: tenant.caller))
            // …on every route of the company,
            Self.expectLimited(try await client.call(.get, "/devices", as: tenant.caller))
            // until one token comes back (every 6 s).
            companyClock.advance(by: .seconds(6))
            #expect(try await client.call(.get, "/devices", as: tenant.caller).status == .ok)
            Self.expectLimited(try await client.call(.get, "/devices", as: tenant.caller))
            // The company bucket is per company.
            #expect(try await client.call(.get, "/me", as: other.caller).status == .ok)
        }
    }

    /// A clock the test moves by hand.
    final class ManualClock: Sendable {
        private let instant = Mutex(ContinuousClock.now)
        var now: ContinuousClock.Instant { instant.withLock { $0 } }
        func advance(_ duration: Duration) { instant.withLock { $0 += duration } }
    }

    /// `count` nodes' limiters on `clock`: on SQLite one process is the only node (the same limiter `count` times); on
    /// PostgreSQL `count` limiters sharing a fresh database's allowance.
    static func withLimiters(_ engine: StoreContractTests.Engine, count: Int = 1, clock: ManualClock,
                             _ body: ([RateLimiter]) async throws -> Void) async throws {
        let start = Date()
        switch engine {
        case .sqlite:
            let only = RateLimiter(now: { clock.now })
            try await body(Array(repeating: only, count: count))
        case .postgres:
            try await StoreContractTests.withPostgres { store in
                let origin = clock.now
                try await body((0..<count).map { _ in
                    RateLimiter(now: { clock.now }, shared: store, wallNow: { start.addingTimeInterval(Self.seconds(clock.now - origin)) })
                })
            }
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    @Test(arguments: StoreContractTests.engines)
    func aQuotaNeverAcceptsMoreThanItsCountInAnyWindow(engine: StoreContractTests.Engine) async throws {
        let clock = ManualClock()
        let limit = RateLimiter.Limit.atMost(100, per: .seconds(60))
        try await Self.withLimiters(engine, count: 3, clock: clock) { limiters in
            // Kiosks retrying every 100 ms for three minutes, through three nodes in turn .
            var accepted: [Duration] = []
            var elapsed = Duration.zero
            var lastRefusal: Int?
            var turn = 0
            while elapsed < .seconds(180) {
                let limiter = limiters[turn % limiters.count]
                turn += 1
                if let wait = await limiter.take("face-registrations:1", limit: limit) { lastRefusal = wait } else { accepted.append(elapsed) }
                clock.advance(.milliseconds(100))
                elapsed += .milliseconds(100)
            }
            // No 60-second window holds more than 100 across the nodes (a token bucket lets 199 through in the first minute)…
            for (index, start) in accepted.enumerated() {
                #expect(accepted[index...].prefix { $0 < start + .seconds(60) }.count <= 100, "window from \(start)")
            }
            // …and the quota is not stingier than promised: 100 in each of the three minutes.
            #expect(accepted.count == 300)
            #expect(lastRefusal.map { (1...60).contains($0) } == true)
            // Keys are independent.
            #expect(await limiters[0].take("face-registrations:2", limit: limit) == nil)
        }
    }

    @Test(arguments: StoreContractTests.engines)
    func aRefusalSaysWhenTheOldestRequestLeavesTheWindow(engine: StoreContractTests.Engine) async throws {
        let clock = ManualClock()
        let limit = RateLimiter.Limit.atMost(3, per: .seconds(60))
        try await Self.withLimiters(engine, count: 2, clock: clock) { limiters in
            let (a, b) = (limiters[0], limiters[limiters.count - 1])
            for index in 0..<3 {
                #expect(await (index == 1 ? b : a).take("k", limit: limit) == nil)
                clock.advance(.seconds(10))
            }
            #expect(await b.take("k", limit: limit) == 30)  // the first left at 60 s; it is 30 s now
            #expect(await a.check("k", limit: limit) == 30)
            clock.advance(.seconds(30))
            #expect(await b.check("k", limit: limit) == nil)  // check counts nothing
            #expect(await b.take("k", limit: limit) == nil)
            #expect(await a.take("k", limit: limit) == 10)
        }
    }

    /// A token bucket shared by two nodes: the burst is the capacity across both, refilled at its rate.
    @Test(arguments: StoreContractTests.engines)
    func aThrottleIsOneBucketAcrossNodes(engine: StoreContractTests.Engine) async throws {
        let clock = ManualClock()
        let limit = RateLimiter.Limit.perMinute(60)
        try await Self.withLimiters(engine, count: 2, clock: clock) { limiters in
            var allowed = 0
            for index in 0..<100 where await limiters[index % limiters.count].take("company:1", limit: limit) == nil { allowed += 1 }
            #expect(allowed == 60)
            #expect(await limiters[0].take("company:1", limit: limit) == 1)  // one token a second
            clock.advance(.seconds(5))
            allowed = 0
            for index in 0..<10 where await limiters[index % limiters.count].take("company:1", limit: limit) == nil { allowed += 1 }
            #expect(allowed == 5)
        }
    }

    /// The shared allowance unreachable: no error reaches the caller; this node allows its share, the limit divided by the
    /// nodes that reported last.
    @Test func withoutTheSharedStoreEachNodeAllowsItsShare() async throws {
        struct Unreachable: SharedRateLimits {
            struct Down: Error {}
            func takeShared(_ key: String, capacity: Int, windowMicros: Int64, slidingWindow: Bool, nowMicros: Int64,
                            commit: Bool) async throws -> Int? { throw Down() }
            func liveNodeCount(since: Date) async throws -> Int { 3 }
            func pruneRateLimits(idleSince: Date) async throws {}
        }
        let clock = ManualClock()
        let limiter = RateLimiter(now: { clock.now }, shared: Unreachable())
        let limit = RateLimiter.Limit.atMost(100, per: .seconds(60))
        var allowed = 0
        for _ in 0..<200 where await limiter.take("face-registrations:1", limit: limit) == nil { allowed += 1 }
        #expect(allowed == 33)
    }
}
