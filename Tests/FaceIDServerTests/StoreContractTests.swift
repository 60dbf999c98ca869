import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import FaceIDServer

/// The two stores behind the same protocols, held to the same answers: SQLite (always) and PostgreSQL (when
/// `FACEID_TEST_POSTGRES=1` and the `PG*` variables name a server: `scripts/postgres-tests.sh` runs these inside
/// `pg_virtualenv`, a throw-away cluster it removes afterwards).
@Suite("Store contract: SQLite and PostgreSQL")
struct StoreContractTests {
    enum Engine: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// The PostgreSQL server the run was given, as a URL (nil: PostgreSQL cases are skipped, and say so).
    static let postgresURL: String? = {
        let environment = ProcessInfo.processInfo.environment
        guard environment["FACEID_TEST_POSTGRES"] == "1", let host = environment["PGHOST"], let user = environment["PGUSER"] else {
            return nil
        }
        let password = environment["PGPASSWORD"].map { ":" + $0 } ?? ""
        return "postgres://\(user)\(password)@\(host):\(environment["PGPORT"] ?? "5432")"
    }()

    static var engines: [Engine] {
        if postgresURL == nil {
            print("StoreContractTests: PostgreSQL cases skipped (run scripts/postgres-tests.sh, or set FACEID_TEST_POSTGRES=1 and PG*)")
            return [.sqlite]
        }
        return Engine.allCases
    }

    typealias Repositories = TenancyRepository & LogRepository

    /// A fresh, empty store of `engine` for `body`: a temporary SQLite file, or a database of its own on the server.
    static func withStore(_ engine: Engine, _ body: (any Repositories) async throws -> Void) async throws {
        var logger = Logger(label: "faceid-test")
        logger.logLevel = .critical
        switch engine {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-contract-\(UUID().uuidString).sqlite").path
            let store = try Store(path: path)
            defer {
                try? store.close()
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            }
            try await body(store)
        case .postgres:
            try await withPostgres { store in try await body(store) }
        }
    }

    /// A fresh, migrated database of its own on the PostgreSQL server, dropped afterwards.
    static func withPostgres(_ body: (PostgresStore) async throws -> Void) async throws {
        var logger = Logger(label: "faceid-test")
        logger.logLevel = .critical
        let server = try #require(postgresURL)
        let database = "faceid_contract_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
        // A client runs once: the admin connection for the test's whole length, the store's inside it.
        let admin = try PostgresStore(url: server + "/postgres", logger: logger)
        try await withRunning(admin) {
            _ = try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: logger)
            let store = try PostgresStore(url: server + "/" + database, logger: logger)
            let outcome: Result<Void, any Error>
            do {
                try await withRunning(store) {
                    try await store.migrate()
                    try await body(store)
                }
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            _ = try await admin.client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(database) WITH (FORCE)"), logger: logger)
            try outcome.get()
        }
    }

    /// Runs the store's connection pool around `body`, and waits for it to stop.
    static func withRunning(_ store: PostgresStore, _ body: () async throws -> Void) async throws {
        let pool = Task { await store.run() }
        let outcome: Result<Void, any Error>
        do {
            try await body()
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        pool.cancel()
        await pool.value
        try outcome.get()
    }

    static let keyRing = KeyRing(master: MasterKey.random())
    static let origin = RequestOrigin(remoteAddress: "192.0.2.1", userAgent: "contract")

    static func register(_ store: any Repositories, _ email: String, now: Date = Date()) async throws -> (CompanyRecord, UserRecord, SessionRecord) {
        let owner = UserRecord(id: nil, companyID: 0, email: email, passwordHash: "x", fullName: "Owner", role: .owner, disabled: false,
                               createdAt: now)
        var settings = CompanySettings(tokenLifetimeMinutes: 30, requestsPerMinute: 600)
        settings.switchModel(to: .sface)
        return try await store.registerCompany(name: "Acme", owner: owner, settings: settings, keyRing: keyRing,
                                               tokenHash: Credentials.hash(UUID().uuidString), origin: origin, now: now)
    }

    @Test(arguments: engines)
    func companiesUsersAndSessions(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            let now = Date()
            let (company, owner, session) = try await Self.register(store, "Owner@Acme.example", now: now)
            let companyID = try #require(company.id)
            #expect(try await store.company(companyID)?.name == "Acme")
            #expect(try await store.wrappedKey(companyID: companyID)?.isEmpty == false)
            // Emails are unique across the server, whatever their case.
            await #expect(throws: StoreError.emailTaken) { _ = try await Self.register(store, "owner@acme.EXAMPLE") }
            #expect(try await store.account(email: "OWNER@acme.example")?.0.id == owner.id)
            // A session lives until it expires or is revoked.
            #expect(try await store.liveSession(tokenHash: session.tokenHash, now: now.addingTimeInterval(29 * 60)) != nil)
            #expect(try await store.liveSession(tokenHash: session.tokenHash, now: now.addingTimeInterval(31 * 60)) == nil)
            try await store.revokeSession(companyID: companyID, sessionID: session.id!, actor: "user:\(owner.id!)", origin: Self.origin)
            #expect(try await store.liveSession(tokenHash: session.tokenHash, now: now) == nil)
            // The last enabled owner can be neither demoted nor deleted; another owner makes both possible.
            await #expect(throws: StoreError.lastOwner) {
                _ = try await store.updateUser(id: owner.id!, companyID: companyID, change: Store.UserChange(role: .admin), actor: "test",
                                               origin: Self.origin) { _ in }
            }
            let second = try await store.createUser(
                UserRecord(id: nil, companyID: companyID, email: "second@acme.example", passwordHash: "x", fullName: "Second",
                           role: .owner, disabled: false, createdAt: now), actor: "test", origin: Self.origin)
            let demoted = try await store.updateUser(id: owner.id!, companyID: companyID, change: Store.UserChange(role: .admin),
                                                     actor: "test", origin: Self.origin) { _ in }
            #expect(demoted.role == .admin)
            await #expect(throws: StoreError.lastOwner) {
                try await store.deleteUser(id: second.id!, companyID: companyID, actor: "test", origin: Self.origin) { _ in }
            }
            #expect(try await store.users(companyID: companyID).map(\.email) == ["Owner@Acme.example", "second@acme.example"])
            // Another company's ids find nothing.
            let (other, _, _) = try await Self.register(store, "owner@bravo.example")
            #expect(try await store.user(id: owner.id!, companyID: other.id!) == nil)
            await #expect(throws: StoreError.notFound(.user)) {
                try await store.deleteUser(id: owner.id!, companyID: other.id!, actor: "test", origin: Self.origin) { _ in }
            }
        }
    }

    @Test(arguments: engines)
    func keysDevicesAndSettings(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            let now = Date()
            let (company, owner, _) = try await Self.register(store, "owner@acme.example")
            let companyID = company.id!
            let key = try await store.createAPIKey(
                APIKeyRecord(id: nil, companyID: companyID, name: "kiosk", prefix: "fid_abcd", secretHash: Credentials.hash("secret"),
                             scopes: "kiosk", createdAt: now, createdBy: "user:\(owner.id!)"), origin: Self.origin)
            let live = try #require(try await store.liveAPIKey(secretHash: Credentials.hash("secret"), now: now))
            #expect(live.0.id == key.id && live.1.id == companyID)
            #expect(try await store.apiKeys(companyID: companyID).first?.lastUsedAt != nil)
            try await store.revokeAPIKey(id: key.id!, companyID: companyID, actor: "test", origin: Self.origin)
            #expect(try await store.liveAPIKey(secretHash: Credentials.hash("secret"), now: now) == nil)
            await #expect(throws: StoreError.notFound(.apiKey)) {
                try await store.revokeAPIKey(id: key.id!, companyID: companyID, actor: "test", origin: Self.origin)
            }
            let device = try await store.createDevice(
                DeviceRecord(id: nil, companyID: companyID, name: "Gate", location: "Lobby", createdAt: now), actor: "test", origin: Self.origin)
            #expect(try await store.device(id: device.id!, companyID: companyID)?.name == "Gate")
            try await store.deleteDevice(id: device.id!, companyID: companyID, actor: "test", origin: Self.origin)
            #expect(try await store.devices(companyID: companyID).isEmpty)
            let fallback = CompanySettings(tokenLifetimeMinutes: 60, requestsPerMinute: 100)
            let (before, after) = try await store.updateSettings(companyID: companyID, fallback: fallback, actor: "test", origin: Self.origin) {
                var next = $0
                next.logRetentionDays = 7
                return next
            }
            #expect(before.logRetentionDays == 365 && after.logRetentionDays == 7)
            #expect(try await store.companySettings(companyID: companyID, fallback: fallback)?.logRetentionDays == 7)
        }
    }

    /// Many writers at once: the chain stays one line, every link and hash checks, and the sequence has no gap.
    @Test(arguments: engines)
    func theAuditChainStaysLinearUnderConcurrentWriters(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            let (company, _, _) = try await Self.register(store, "owner@acme.example")
            let companyID = company.id!
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for index in 0..<10 {
                            try await store.audit(AuditEvent(action: "test.write", actor: "writer:\(writer)", target: "n:\(index)",
                                                             origin: Self.origin), companyID: companyID)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let head = try AuditHead(directory: FileManager.default.temporaryDirectory.appendingPathComponent("faceid-head-\(UUID())").path,
                                     master: MasterKey.random())
            let verified = try await store.verifyAudit(companyID: companyID, head: head)
            #expect(verified.chain.intact)
            #expect(verified.chain.eventCount == 81)  // company.register and the 80 writes
            #expect(verified.head == .missing)  // no head was recorded in this folder
            let page = try await store.auditEvents(companyID: companyID, filter: Store.AuditFilter(actor: "writer:3", limit: 500))
            #expect(page.count == 10)
            #expect(page.map(\.id!) == page.map(\.id!).sorted(by: >))
        }
    }

    @Test(arguments: engines)
    func theAccessLogFiltersPagesAndForgets(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            let (company, _, _) = try await Self.register(store, "owner@acme.example")
            let companyID = company.id!
            let day: Int64 = 86_400 * 1_000_000
            let now = Int64(Date().timeIntervalSince1970 * 1e6)
            for (index, at) in [now - 10 * day, now - 2 * day, now - day, now].enumerated() {
                try await store.appendAccess(
                    AccessRecord(id: nil, companyID: companyID, atMicros: at, actor: "api_key:1", deviceID: index == 3 ? 4 : nil,
                                 location: "", probeSHA256: "ab", decision: index.isMultiple(of: 2) ? "match" : "unknown",
                                 personID: index == 3 ? 9 : nil, distance: index == 3 ? 0.31 : nil, faceCount: 1, latencyMs: 12.5),
                    retentionDays: 5)
            }
            // The entry ten days old went with the retention.
            let all = try await store.accessEntries(companyID: companyID, filter: Store.AccessFilter(limit: 100))
            #expect(all.count == 3)
            #expect(all.first?.personID == 9 && all.first?.distance == 0.31 && all.first?.deviceID == 4)
            let matches = try await store.accessEntries(companyID: companyID, filter: Store.AccessFilter(decision: "match", limit: 100))
            #expect(matches.count == 1)
            let older = try await store.accessEntries(companyID: companyID, filter: Store.AccessFilter(beforeID: all[0].id, limit: 1))
            #expect(older.map(\.id) == [all[1].id])
        }
    }
}

/// PostgreSQL's feed under concurrent writers: numbered per company from a counter row each writer holds until it
/// commits, so a follower reading `seq > watermark` while they write never sees a gap or a late row.
@Suite("PostgreSQL feed ordering", .enabled(if: StoreContractTests.postgresURL != nil, "no PostgreSQL (scripts/postgres-tests.sh runs this)"))
struct PostgresFeedTests {
    @Test func theFeedIsGaplessAndInCommitOrderUnderConcurrentWriters() async throws {
        try await StoreContractTests.withPostgres { store in
            let (company, _, _) = try await StoreContractTests.register(store, "owner@acme.example")
            let companyID = company.id!
            let writers = 6, faces = 8
            let done = ManagedAtomicFlag()
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

/// A flag one task sets and another reads.
final class ManagedAtomicFlag: Sendable {
    private let flag = Mutex(false)
    var value: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
