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

    typealias Repositories = TenancyRepository & LogRepository & PersonRepository & EmployeeRepository & FeedRepository & IdempotencyRepository

    /// A fresh, empty store of `engine` for `body`: a temporary SQLite file, or a database of its own on the server.
    static func withStore(_ engine: Engine, _ body: (any Repositories) async throws -> Void) async throws {
        try await $keyRing.withValue(KeyRing(master: MasterKey.random(), vault: MemoryKeyVault())) { try await withFreshStore(engine, body) }
    }

    private static func withFreshStore(_ engine: Engine, _ body: (any Repositories) async throws -> Void) async throws {
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
        let admin = try PostgresStore(url: server + "/postgres?min=0", logger: logger)
        try await withRunning(admin) {
            _ = try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: logger)
            let store = try PostgresStore(url: server + "/" + database + "?min=0", logger: logger)
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

    /// A key ring per store (it caches company keys by company id, and every fresh database starts at company 1).
    @TaskLocal static var keyRing = KeyRing(master: MasterKey.random(), vault: MemoryKeyVault())
    static let origin = RequestOrigin(remoteAddress: "192.0.2.1", userAgent: "contract")

    static func register(_ store: any Repositories, _ email: String, now: Date = Date()) async throws -> (CompanyRecord, UserRecord, SessionRecord) {
        let owner = UserRecord(id: nil, companyID: 0, email: email, passwordHash: "x", fullName: "Owner", role: .owner, disabled: false,
                               createdAt: now)
        var settings = CompanySettings(tokenLifetimeMinutes: 30, requestsPerMinute: 600)
        settings.switchModel(to: .sface)
        return try await store.registerCompany(name: "Acme", owner: owner, settings: settings, keyRing: keyRing,
                                               dataKey: try await keyRing.newDataKey(), tokenHash: Credentials.hash(UUID().uuidString), origin: origin, now: now)
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

extension StoreContractTests {
    /// `store.url`: another scheme is a configuration error naming the key; a password never reaches a message or the log.
    @Test func aStoreURLIsCheckedAndItsPasswordKeptOutOfMessages() throws {
        #expect(throws: ConfigurationError.self) { _ = try PostgresStore.configuration("mysql://u:secret@db/faceid") }
        do {
            _ = try PostgresStore.configuration("mysql://u:secret@db/faceid")
        } catch let error as ConfigurationError {
            #expect(error.key == "store.url" && !error.message.contains("secret"), "\(error.message)")
        }
        #expect(PostgresStore.redacted("postgres://u:secret@db:5432/faceid") == "postgres://u:***@db:5432/faceid")
        #expect(!PostgresStore.redacted("postgres://u:sec ret@db/faceid").contains("sec"))
        let pooled = try PostgresStore.configuration("postgres://u:secret@db:5433/faceid?pool=3")
        #expect(pooled.options.maximumConnections == 3 && pooled.port == 5433 && pooled.database == "faceid")
    }
}

extension StoreContractTests {
    static func vector(_ seed: Int) -> [Float] {
        let raw = (0..<128).map { Float(sin(Double(seed * 29 + $0) * 0.37)) }
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return raw.map { $0 / norm }
    }

    static func person(_ companyID: Int64, _ name: String, externalID: String? = nil, tags: [String] = []) -> PersonRecord {
        PersonRecord(id: nil, companyID: companyID, externalID: externalID, fullName: name, tags: PersonRecord.encodeTags(tags),
                     metadata: "{}", createdAt: Date(), updatedAt: Date())
    }

    @Test(arguments: engines)
    func personsAndGroups(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            let (company, _, _) = try await Self.register(store, "owner@acme.example")
            let companyID = company.id!
            let staff = try await store.createGroup(GroupRecord(id: nil, companyID: companyID, name: "staff", description: "", createdAt: Date()),
                                                    actor: "test", origin: Self.origin)
            await #expect(throws: StoreError.groupExists) {
                _ = try await store.createGroup(GroupRecord(id: nil, companyID: companyID, name: "staff", description: "", createdAt: Date()),
                                                actor: "test", origin: Self.origin)
            }
            let ana = try await store.createPerson(Self.person(companyID, "Ana Reyes", externalID: "HR-1", tags: ["night"]), groups: ["staff"],
                                                   actor: "test", origin: Self.origin)
            #expect(ana.groups == ["staff"])
            await #expect(throws: StoreError.externalIDTaken(personID: ana.record.id!)) {
                _ = try await store.createPerson(Self.person(companyID, "Other", externalID: "HR-1"), groups: [], actor: "test", origin: Self.origin)
            }
            await #expect(throws: StoreError.unknownGroup("nobody")) {
                _ = try await store.createPerson(Self.person(companyID, "Other"), groups: ["nobody"], actor: "test", origin: Self.origin)
            }
            let ben = try await store.createPerson(Self.person(companyID, "Ben_Cruz"), groups: [], actor: "test", origin: Self.origin)
            func names(_ filter: Store.PersonFilter) async throws -> [String] {
                try await store.persons(companyID: companyID, filter: filter).map(\.record.fullName)
            }
            #expect(try await names(Store.PersonFilter(limit: 10)) == ["Ana Reyes", "Ben_Cruz"])
            #expect(try await names(Store.PersonFilter(name: "REYES", limit: 10)) == ["Ana Reyes"])
            #expect(try await names(Store.PersonFilter(name: "_", limit: 10)) == ["Ben_Cruz"])  // the wildcard taken literally
            #expect(try await names(Store.PersonFilter(tag: "night", limit: 10)) == ["Ana Reyes"])
            #expect(try await names(Store.PersonFilter(group: "staff", limit: 10)) == ["Ana Reyes"])
            #expect(try await names(Store.PersonFilter(externalID: "HR-1", limit: 10)) == ["Ana Reyes"])
            #expect(try await names(Store.PersonFilter(afterID: ana.record.id, limit: 10)) == ["Ben_Cruz"])
            #expect(try await store.groups(companyID: companyID).map { "\($0.0.name):\($0.1)" } == ["staff:1"])
            var change = Store.PersonChange()
            change.fullName = "Ana R."
            change.groups = []
            change.externalID = .some(nil)
            let updated = try await store.updatePerson(id: ana.record.id!, companyID: companyID, change: change, actor: "test", origin: Self.origin)
            #expect(updated.record.fullName == "Ana R." && updated.groups.isEmpty && updated.record.externalID == nil)
            try await store.deleteGroup(id: staff.id!, companyID: companyID, actor: "test", origin: Self.origin)
            await #expect(throws: StoreError.notFound(.group)) {
                try await store.deleteGroup(id: staff.id!, companyID: companyID, actor: "test", origin: Self.origin)
            }
            try await store.deletePerson(id: ben.record.id!, companyID: companyID, actor: "test", origin: Self.origin)
            #expect(try await store.person(id: ben.record.id!, companyID: companyID) == nil)
            await #expect(throws: StoreError.notFound(.person)) {
                try await store.deletePerson(id: ben.record.id!, companyID: companyID, actor: "test", origin: Self.origin)
            }
        }
    }

    @Test(arguments: engines)
    func facesAndTheirEmbeddings(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            let (company, _, _) = try await Self.register(store, "owner@acme.example")
            let companyID = company.id!
            let added = try await store.addFaces(
                [Store.NewFace(person: .external("E1", fullName: "One"), encoding: Self.vector(1)),
                 Store.NewFace(person: .external("E1", fullName: "One"), encoding: Self.vector(2)),
                 Store.NewFace(person: .external("E2", fullName: "Two"), encoding: Self.vector(3), model: .sface)],
                companyID: companyID, source: "import", reference: false, keyRing: Self.keyRing, actor: "test", origin: Self.origin)
            #expect(added.count == 3 && added[0].personID == added[1].personID && added[2].modelID == "sface-2021dec")
            await #expect(throws: StoreError.notFound(.person, id: 999_999)) {
                _ = try await store.addFaces([Store.NewFace(person: .id(999_999), encoding: Self.vector(4))], companyID: companyID,
                                             source: "import", reference: false, keyRing: Self.keyRing, actor: "test", origin: Self.origin)
            }
            // Photo enrollment: both models' embeddings, dlib on the row.
            let (person, face) = try await store.enroll(
                companyID: companyID, embeddings: [.dlib: Self.vector(5), .sface: Self.vector(6)], personID: nil,
                newPerson: Self.person(companyID, "Three"), groups: [], reference: true, keyRing: Self.keyRing, photo: nil, actor: "test",
                origin: Self.origin)
            #expect(person.record.fullName == "Three" && face.modelID == "dlib-resnet-v1" && face.reference)
            // The sealed encoding opens under the face's record id with the company key.
            let sealer = try Self.keyRing.sealer(companyID: companyID, wrappedKey: try #require(try await store.wrappedKey(companyID: companyID)))
            let stored = try #require(try await store.face(id: face.id!, companyID: companyID))
            #expect(FaceEncoding.floats(try sealer.open(stored.sealedEncoding, recordID: "face:\(face.id!)")) == Self.vector(5))
            let counts = try await store.embeddingCounts(companyID: companyID)
            #expect(counts.faces == 4 && counts.with[.dlib] == 3 && counts.with[.sface] == 2)
            #expect(try await store.facesLacking(.sface, companyID: companyID, afterID: 0, limit: 10).map(\.faceID) == [added[0].id!, added[1].id!])
            let lacking = try await store.personsLacking(.sface, companyID: companyID, limit: 10)
            #expect(lacking.count == 1 && lacking.persons.first?.1 == 2)
            #expect(try await store.hasFaces(onlyOf: .sface, companyID: companyID))
            #expect(try await store.rowModels(ofFaces: [added[2].id!], companyID: companyID) == [added[2].id!: "sface-2021dec"])
            #expect(try await store.addEmbedding(faceID: added[0].id!, companyID: companyID, model: .sface, vector: Self.vector(7),
                                                 keyRing: Self.keyRing))
            #expect(try await !store.addEmbedding(faceID: added[0].id!, companyID: companyID, model: .sface, vector: Self.vector(7),
                                                  keyRing: Self.keyRing))
            let owners = try await store.persons(ofFaces: [added[0].id!, added[2].id!, 999_999], companyID: companyID)
            #expect(owners.mapValues(\.record.fullName) == [added[0].id!: "One", added[2].id!: "Two"])
            #expect(try await store.faces(personID: added[0].personID, companyID: companyID)?.count == 2)
            #expect(try await store.faces(personID: 999_999, companyID: companyID) == nil)
            // Another company sees none of it.
            let (other, _, _) = try await Self.register(store, "owner@bravo.example")
            #expect(try await store.face(id: face.id!, companyID: other.id!) == nil)
            #expect(try await store.existingFaces([face.id!], companyID: other.id!).isEmpty)
            try await store.deleteFace(id: added[1].id!, companyID: companyID, actor: "test", origin: Self.origin)
            await #expect(throws: StoreError.notFound(.face)) {
                try await store.deleteFace(id: added[1].id!, companyID: companyID, actor: "test", origin: Self.origin)
            }
            #expect(try await store.existingFaces(added.map { $0.id! }, companyID: companyID) == [added[0].id!, added[2].id!])
            #expect(try await store.quarantine(faceID: added[0].id!, companyID: companyID, reason: "test"))
            #expect(try await !store.quarantine(faceID: added[0].id!, companyID: companyID, reason: "test"))
            #expect(try await store.quarantinedFaceCount() == 1)
        }
    }
}

extension StoreContractTests {
    static func encoding(_ seed: Int) -> [Double] { (0..<128).map { sin(Double(seed * 131 + $0) * 0.7) * 0.09 } }

    @Test(arguments: engines)
    func employeesKioskFacesAndTheirFeed(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            let (company, _, _) = try await Self.register(store, "owner@acme.example")
            let companyID = company.id!
            let ana = try await store.createEmployee(Store.EmployeeRow(name: "Ana", timekeeperID: "TK-1"), companyID: companyID, actor: "test",
                                                     origin: Self.origin)
            let anaID = ana.record.id!
            await #expect(throws: StoreError.timekeeperIDTaken(employeeID: anaID)) {
                _ = try await store.createEmployee(Store.EmployeeRow(name: "Other", timekeeperID: "TK-1"), companyID: companyID, actor: "test",
                                                   origin: Self.origin)
            }
            let imported = try await store.importEmployees(
                [Store.EmployeeRow(name: "Ana Reyes", timekeeperID: "TK-1"), Store.EmployeeRow(name: "Ben", timekeeperID: "TK-2"),
                 Store.EmployeeRow(name: "Cy", timekeeperID: "TK-3")], companyID: companyID, actor: "test", origin: Self.origin)
            #expect(imported.created == 2 && imported.updated == 1)
            let (other, _, _) = try await Self.register(store, "owner@bravo.example")
            guard case .own = try await store.ownership(ofEmployee: anaID, companyID: companyID) else { Issue.record("not own"); return }
            guard case .otherCompany = try await store.ownership(ofEmployee: anaID, companyID: other.id!) else { Issue.record("not other"); return }
            guard case .missing = try await store.ownership(ofEmployee: 999_999, companyID: companyID) else { Issue.record("not missing"); return }
            let start = try await store.feedHead(companyID: companyID).lastSeq

            // Kiosk registrations: the latest wins, an older one is stale.
            let now = Date()
            let registered = try await store.registerKioskFace(employeeID: anaID, companyID: companyID, encoding: Self.encoding(1),
                                                               registeredAt: now.addingTimeInterval(-60), keyRing: Self.keyRing,
                                                               actor: "test", deviceID: nil, origin: Self.origin)
            do {
                _ = try await store.registerKioskFace(employeeID: anaID, companyID: companyID, encoding: Self.encoding(2),
                                                      registeredAt: now.addingTimeInterval(-120), keyRing: Self.keyRing, actor: "test",
                                                      deviceID: nil, origin: Self.origin)
                Issue.record("an older registration was accepted")
            } catch StoreError.staleRegistration(let stored, let deleted) {
                #expect(abs(stored.timeIntervalSince(registered)) < 0.002 && !deleted)
            }
            let face = try #require(try await store.employee(id: anaID, companyID: companyID)?.face)
            let sealer = try Self.keyRing.sealer(companyID: companyID, wrappedKey: try #require(try await store.wrappedKey(companyID: companyID)))
            #expect(FaceEncoding.doubles(try sealer.open(face.sealedEncoding, recordID: "face:\(face.id!)")) == Self.encoding(1))
            let page = try await store.timekeeperPage(companyID: companyID, page: 1, pageSize: 2)
            #expect(page.total == 3 && page.employees.map(\.record.fullName) == ["Ana Reyes", "Ben"] && page.employees[0].faceCount == 1)
            #expect(try await store.activeEmployeeCount(companyID: companyID) == 3)

            // The feed: each changed employee once, at their last change; the index's face rows with the face's embeddings.
            let head = try await store.feedHead(companyID: companyID)
            #expect(head.lastSeq > start)
            let (changes, feedHead) = try await store.employeeChanges(companyID: companyID, after: 0, limit: 100)
            #expect(Set(changes.map(\.personID)).count == changes.count && changes.count == 3)
            #expect(changes.last?.personID == anaID && feedHead.lastSeq == head.lastSeq)
            #expect(changes.map(\.seq) == changes.map(\.seq).sorted())
            let (faceRows, position) = try await store.faceChanges(companyID: companyID, after: 0, limit: 100)
            #expect(faceRows.map(\.faceID) == [face.id!] && faceRows[0].operation == .upsert && faceRows[0].embeddings.count == 1)
            #expect(position == head.lastSeq)
            #expect(try await store.faceSnapshot(companyID: companyID, afterFaceID: 0, limit: 10).faces.map(\.faceID) == [face.id!])
            #expect(try await store.companiesWithFaces().map(\.0).contains(companyID))

            // Leaving: the face goes (a delete row), the record stays; deleting faces twice finds none.
            #expect(try await store.deleteKioskFaces(employeeID: anaID, companyID: companyID, actor: "test", deviceID: nil, origin: Self.origin))
            #expect(try await !store.deleteKioskFaces(employeeID: anaID, companyID: companyID, actor: "test", deviceID: nil, origin: Self.origin))
            #expect(try await store.faceChanges(companyID: companyID, after: position, limit: 10).changes.map(\.operation) == [.delete])
            var resign = Store.EmployeeChange()
            resign.resigned = true
            let left = try await store.updateEmployee(id: anaID, companyID: companyID, change: resign, actor: "test", origin: Self.origin)
            #expect(left.record.deletedAt != nil)
            #expect(try await store.employees(companyID: companyID, includeDeleted: false, afterID: nil, limit: 10).count == 2)
            #expect(try await store.employees(companyID: companyID, includeDeleted: true, afterID: nil, limit: 10).count == 3)
            await #expect(throws: StoreError.notFound(.employee)) {
                try await store.deleteEmployee(id: anaID, companyID: companyID, actor: "test", origin: Self.origin)
            }
            let tombstone = try await store.employeeChanges(companyID: companyID, after: head.lastSeq, limit: 10).changes
            #expect(tombstone.map(\.personID) == [anaID] && tombstone[0].employee == nil)

            // Acknowledgements, propagation and the retention rule.
            let device = try await store.createDevice(DeviceRecord(id: nil, companyID: companyID, name: "Gate", location: "", createdAt: now),
                                                      actor: "test", origin: Self.origin)
            let end = try await store.feedHead(companyID: companyID).lastSeq
            await #expect(throws: StoreError.beyondFeedEnd) {
                _ = try await store.acknowledge(deviceID: device.id!, companyID: companyID, seq: end + 1)
            }
            #expect(try await store.acknowledge(deviceID: device.id!, companyID: companyID, seq: start).ackedSeq == start)
            let report = try #require(try await store.propagation(employeeID: anaID, companyID: companyID))
            #expect(report.latest.seq > start && report.devices.count == 1)
            let future = Date().addingTimeInterval(86_400)
            #expect(try await store.purgeFeed(companyID: companyID, olderThan: future, notPast: .max) <= start)
            _ = try await store.acknowledge(deviceID: device.id!, companyID: companyID, seq: end)
            #expect(try await store.purgeFeed(companyID: companyID, olderThan: future, notPast: .max) == end)
            #expect(try await store.purgedThrough(companyID: companyID) == end)
            #expect(try await store.faceChanges(companyID: companyID, after: 0, limit: 10).changes.isEmpty)
            #expect(try await store.feedHead(companyID: companyID).lastSeq == end)
        }
    }
}
