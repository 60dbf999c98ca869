import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import FaceIDServer

// PostgreSQL only: what SQLite's single writer makes moot (feed ordering under concurrent writers, index positions for
// the feed's retention, TLS to the server, LISTEN/NOTIFY wake-ups). Run by `scripts/postgres-tests.sh`.

/// PostgreSQL's feed under concurrent writers: numbered per company from a counter row each writer holds until it
/// commits, so a follower reading `seq > watermark` while they write never sees a gap or a late row.
@Suite("PostgreSQL feed ordering", .enabled(if: StoreContractTests.postgresURL != nil, "no PostgreSQL (scripts/postgres-tests.sh runs this)"))
struct PostgresFeedTests {
    @Test func theFeedIsGaplessAndInCommitOrderUnderConcurrentWriters() async throws {
        try await StoreContractTests.withPostgres { store in
            let companyID = try await registeredCompany(in: store)
            let writers = 6, faces = 8
            let done = Flag()
            // The follower: every read continues exactly where the last ended.
            let follower = Task { () -> (gaps: Int, seen: Int) in
                var watermark: Int64 = 0, gaps = 0
                while true {
                    let finished = done.value
                    let seqs = try await store.client.query(
                        "SELECT seq FROM changes WHERE company_id = \(companyID) AND seq > \(watermark) ORDER BY seq",
                        logger: store.logger).decode(Int64.self).elements()
                    for seq in seqs {
                        if seq != watermark + 1 { gaps += 1 }
                        watermark = seq
                    }
                    if finished { return (gaps, Int(watermark)) }
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in 0..<faces {
                            try await store.transaction { connection in
                                let person = try await connection.query("""
                                    INSERT INTO persons (company_id, full_name, tags, metadata, created_at, updated_at)
                                    VALUES (\(companyID), \("W\(writer)-\(index)"), '[]', '{}', now(), now()) RETURNING id
                                    """, logger: store.logger).decode(Int64.self).elements()[0]
                                _ = try await connection.query("""
                                    INSERT INTO faces (company_id, person_id, sealed_encoding, model_id, source, created_at)
                                    VALUES (\(companyID), \(person), \(Data([1, 2, 3])), 'dlib-resnet-v1', 'import', now())
                                    """, logger: store.logger)
                                // Hold the transaction open a little, as a slow writer would.
                                _ = try await connection.query("SELECT pg_sleep(\(Double(index % 3) * 0.005))", logger: store.logger)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            done.set()
            let (gaps, seen) = try await follower.value
            #expect(gaps == 0)
            #expect(seen == writers * faces)  // one face row each (persons without a timekeeper id write none)
            let stored = try await store.client.query("SELECT seq FROM changes WHERE company_id = \(companyID) ORDER BY seq",
                                                      logger: store.logger).decode(Int64.self).elements()
            #expect(stored == Array(1...Int64(writers * faces)))
        }
    }
}

/// Nodes sharing a PostgreSQL store report where their index stands; the feed's retention keeps every row a node that
/// reported recently has not applied, and forgets a node silent longer than that.
@Suite("PostgreSQL index positions", .enabled(if: StoreContractTests.postgresURL != nil, "no PostgreSQL (scripts/postgres-tests.sh runs this)"))
struct PostgresIndexPositionTests {
    @Test func retentionNeverPassesALiveNodesPosition() async throws {
        try await StoreContractTests.withPostgres { store in
            let companyID = try await registeredCompany(in: store)
            for index in 0..<5 {
                _ = try await store.createPerson(StoreContractTests.person(companyID, "P\(index)", externalID: "E\(index)"), groups: [],
                                                 actor: "test", origin: StoreContractTests.origin)
                _ = try await store.createEmployee(Store.EmployeeRow(name: "Employee \(index)", timekeeperID: "T\(index)"),
                                                   companyID: companyID, actor: "test", origin: StoreContractTests.origin)
            }
            let head = try await store.feedPosition(companyID: companyID)
            #expect(head == 5)
            let now = Date()
            #expect(try await store.lowestIndexPosition(companyID: companyID, reportedSince: now.addingTimeInterval(-600)) == nil)
            try await store.reportIndexPositions(node: "a:1", [companyID: head, 999: 3], at: now)  // an unknown company is skipped
            try await store.reportIndexPositions(node: "b:1", [companyID: 2], at: now.addingTimeInterval(-30))
            try await store.reportIndexPositions(node: "c:1", [companyID: 1], at: now.addingTimeInterval(-3600))
            #expect(try await store.lowestIndexPosition(companyID: companyID, reportedSince: now.addingTimeInterval(-600)) == 2)
            // Every row is past the horizon; the live node b holds the purge at 2, the silent node c holds nothing.
            let live = try await store.lowestIndexPosition(companyID: companyID, reportedSince: now.addingTimeInterval(-600))
            #expect(try await store.purgeFeed(companyID: companyID, olderThan: now.addingTimeInterval(60), notPast: live ?? .max) == 2)
            try await store.reportIndexPositions(node: "b:1", [companyID: 4], at: now)
            #expect(try await store.lowestIndexPosition(companyID: companyID, reportedSince: now.addingTimeInterval(-600)) == 4)
            #expect(try await store.purgeFeed(companyID: companyID, olderThan: now.addingTimeInterval(60), notPast: 4) == 4)
        }
    }
}

/// `?sslmode=require` encrypts the store's connections (pool and listener); an unknown mode stops the start.
@Suite("PostgreSQL over TLS", .enabled(if: StoreContractTests.postgresURL != nil, "no PostgreSQL (scripts/postgres-tests.sh runs this)"))
struct PostgresTLSTests {
    @Test func sslmodeRequireEncryptsTheConnections() async throws {
        #expect(throws: ConfigurationError.self) { try PostgresStore(url: "postgres://u:p@localhost/db?sslmode=allow", logger: Logger(label: "t")) }
        try await StoreContractTests.withPostgres { plain in
            let ssl = try await plain.client.query("SHOW ssl", logger: plain.logger).decode(String.self).elements().first
            guard ssl == "on" else {
                print("PostgresTLSTests: the server has ssl off; only the refusal of an unknown sslmode was checked")
                return
            }
            var logger = Logger(label: "faceid-test")
            logger.logLevel = .critical
            let database = try await plain.client.query("SELECT current_database()", logger: logger).decode(String.self).elements()[0]
            let server = try #require(StoreContractTests.postgresURL)
            let store = try PostgresStore(url: server + "/" + database + "?min=0&sslmode=require", logger: logger)
            try await StoreContractTests.withRunning(store) {
                let encrypted = try await store.client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: logger)
                    .decode(Bool.self).elements().first
                #expect(encrypted == true)
            }
        }
    }
}

/// Followers on PostgreSQL: a NOTIFY from the appending transaction wakes them; a killed LISTEN connection is reopened
/// and they are woken again, so nothing waits for the poll.
@Suite("PostgreSQL feed wake-ups", .enabled(if: StoreContractTests.postgresURL != nil, "no PostgreSQL (scripts/postgres-tests.sh runs this)"))
struct PostgresWakeupTests {
    @Test func aCommitWakesTheFollowersEvenAfterTheirConnectionWasKilled() async throws {
        try await StoreContractTests.withPostgres { store in
            let wakes = Mutex(0)
            store.onFeedCommit { wakes.withLock { $0 += 1 } }
            let keyRing = KeyRing(master: MasterKey.random(), vault: MemoryKeyVault())
            let (company, _, _) = try await StoreContractTests.$keyRing.withValue(keyRing) {
                try await StoreContractTests.register(store, "owner@acme.example")
            }
            func waitForWake(after count: Int) async throws -> Bool {
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    if wakes.withLock({ $0 }) > count { return true }
                    try await Task.sleep(for: .milliseconds(10))
                }
                return false
            }
            func addFace(_ seed: Int) async throws {
                _ = try await store.addFaces([Store.NewFace(person: .external("P\(seed)", fullName: "P"), encoding: StoreContractTests.vector(seed))],
                                             companyID: company.id!, source: "import", reference: false, keyRing: keyRing, actor: "test",
                                             origin: StoreContractTests.origin)
            }
            // Wait until the listener is listening (a notification sent before would be lost: that is what the poll is for).
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline, try await store.client.query("""
                SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()
                """, logger: store.logger).decode(Int64.self).elements().first == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            var seen = wakes.withLock { $0 }
            try await addFace(1)
            #expect(try await waitForWake(after: seen), "no wake-up after a commit")
            #expect(try await store.feedHeads()[company.id!] == 1)
            // The LISTEN connection is killed: it is reopened (a wake-up), and later commits wake the followers again.
            seen = wakes.withLock { $0 }
            let killed = try await store.client.query("""
                SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE query LIKE 'LISTEN%' AND datname = current_database()) AS killed
                """, logger: store.logger).decode(Int64.self).elements().first
            #expect(killed == 1)
            #expect(try await waitForWake(after: seen), "no wake-up after the listener reconnected")
            try await Task.sleep(for: .milliseconds(200))
            seen = wakes.withLock { $0 }
            try await addFace(2)
            #expect(try await waitForWake(after: seen), "no wake-up after a commit, once reconnected")
            #expect(try await store.feedHeads()[company.id!] == 2)
        }
    }
}

/// A flag one task sets and another reads.
final class Flag: Sendable {
    private let flag = Mutex(false)
    var value: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}

/// A company registered under a fresh master key (the contract suite's `register`); its id.
private func registeredCompany(in store: PostgresStore) async throws -> Int64 {
    let (company, _, _) = try await StoreContractTests.$keyRing.withValue(KeyRing(master: MasterKey.random(), vault: MemoryKeyVault())) {
        try await StoreContractTests.register(store, "owner@acme.example")
    }
    return company.id!
}
