import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import Testing

@testable import FaceIDServer

/// A server on a fresh temporary data folder, driven through `app.test(.router)`.
///
/// Plain HTTP (the live TLS test is separate), bcrypt cost 4 so tests stay fast, and
/// `X-Forwarded-For` trusted so a test can play several source addresses.
struct TestServer: Sendable {
    let directory: URL
    let configuration: ServerConfiguration
    let services: AppServices
    /// The route table with permissions, as `buildRouter` declares it.
    let routes: [RouteInfo]
    /// What the Hummingbird router actually serves: `"GET /users/{id}"`.
    let servedRoutes: [String]
    /// On PostgreSQL: the test's own database and its connection pool.
    let postgres: (database: String, pool: Task<Void, Never>)?

    /// The store engine of this run: SQLite, or PostgreSQL with `FACEID_TEST_ENGINE=postgres` and a server named by
    /// `FACEID_TEST_POSTGRES=1` and `PG*` (`scripts/postgres-tests.sh` runs the server suite so).
    enum Engine: Sendable { case sqlite, postgres }
    static let engine: Engine =
        ProcessInfo.processInfo.environment["FACEID_TEST_ENGINE"] == "postgres" && StoreContractTests.postgresURL != nil ? .postgres : .sqlite

    /// Creates and drops the tests' databases; runs for the whole process.
    static let admin: PostgresStore? = {
        guard engine == .postgres, let url = StoreContractTests.postgresURL else { return nil }
        var logger = Logger(label: "faceid-test")
        logger.logLevel = .critical
        let admin = try! PostgresStore(url: url + "/postgres?min=0", logger: logger)  // the URL was just built from PG*
        Task { await admin.run() }
        return admin
    }()

    /// Tests that read or damage SQLite's rows directly run on SQLite only.
    static let sqliteOnly = ConditionTrait.enabled(if: engine == .sqlite, "reads or edits the SQLite store's rows")

    /// The package root (three levels above this file): `models/` lives there.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// One face-engine pool for every test server of the process: the models load once (dlib's and SFace's files are
    /// checksummed and parsed on first use), not once per test.
    static let sharedFaces = FaceEngineProvider(modelDirectory: packageRoot + "/models")

    /// - Parameter clock: the server's time; `.manual()` stands still until the test advances it.
    init(clock: ServerClock = .system, _ adjust: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = ServerConfiguration(dataDirectory: directory.path)
        configuration.plaintext = true
        configuration.bcryptCost = 4
        configuration.trustForwardedFor = true
        configuration.masterKey = MasterKey.random()
        configuration.logLevel = .critical
        configuration.modelDirectory = Self.packageRoot + "/models"
        configuration.desktopAppSecret = Self.appSecret
        adjust(&configuration)
        self.configuration = configuration
        var logger = Logger(label: "faceid-test")
        logger.logLevel = .critical
        // Each server its own store, index and clock; the engines are shared unless a test points at other model files.
        let store: any FaceIDStore
        if Self.engine == .postgres, let admin = Self.admin, let url = StoreContractTests.postgresURL {
            let database = "faceid_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
            _ = try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: logger)
            // Three connections a server: many test servers share one PostgreSQL (100 connections).
            let postgres = try PostgresStore(url: url + "/" + database + "?pool=3&min=0", logger: logger)
            self.postgres = (database, Task { await postgres.run() })
            try await postgres.migrate()
            store = postgres
        } else {
            postgres = nil
            store = try Store(path: configuration.databasePath)
        }
        services = try await AppServices.assemble(
            configuration: configuration, store: store,
            keyRing: KeyRing(master: configuration.masterKey!, vault: try store.keyVault(dataDirectory: directory.path)), metrics: PrometheusCollectorRegistry(), logger: logger, clock: clock,
            faces: configuration.modelDirectory == Self.packageRoot + "/models" ? Self.sharedFaces : nil)
        let (router, routes) = buildRouter(services: services)
        self.routes = routes
        servedRoutes = router.routes.map { "\($0.method.rawValue) \($0.path.description)" }
    }

    static let appSecret = "test-desktop-app-secret"

    /// What the desktop app sends besides its credentials.
    static func kioskHeaders(device: Int64? = nil, secret: String? = appSecret) -> HTTPFields {
        var headers: HTTPFields = [HTTPField.Name("X-Timekeeper-Desktop")!: "true"]
        if let secret { headers[HTTPField.Name("X-App-Secret")!] = secret }
        if let device { headers[HTTPField.Name("X-Device-Id")!] = String(device) }
        return headers
    }

    /// Runs `body` against the router, then closes the store (drops a PostgreSQL test database) and removes the data folder.
    func run(_ body: @Sendable (Client) async throws -> Void) async throws {
        let outcome: Result<Void, any Error>
        do {
            try await Application(router: buildRouter(services: services).0).test(.router) { client in
                try await body(Client(base: client))
            }
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        if let postgres, let admin = Self.admin {
            postgres.pool.cancel()
            await postgres.pool.value
            _ = try? await admin.client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(postgres.database) WITH (FORCE)"), logger: admin.logger)
        } else {
            // Closing waits for every reader to be released: off the pool, so the tasks holding them can still run.
            try? await offThePool { [services] in try services.sqlite.close() }
        }
        try? FileManager.default.removeItem(at: directory)
        try outcome.get()
    }
}

/// A reply with its JSON body decoded loosely, for assertions.
struct Reply {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var data: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:] }
    var text: String { String(decoding: data, as: UTF8.self) }
    var code: String? { json["code"] as? String }
    subscript(key: String) -> Any? { json[key] }
    func object(_ key: String) -> [String: Any] { json[key] as? [String: Any] ?? [:] }
}

/// A signed-in caller: a session token or an API key.
enum Caller: Sendable {
    case token(String)
    case apiKey(String)
    case none

    var headers: HTTPFields {
        switch self {
        case .token(let token): [.authorization: "Token \(token)"]
        case .apiKey(let key): [HTTPField.Name("X-API-Key")!: key]
        case .none: [:]
        }
    }
}

/// A registered company: its owner's token and ids.
struct Tenant: Sendable {
    var token: String
    var companyID: Int64
    var ownerID: Int64
    var email: String
    var caller: Caller { .token(token) }
}

struct Client: Sendable {
    let base: any TestClientProtocol
    static let password = "correct horse battery"

    func call(
        _ method: HTTPRequest.Method, _ uri: String, as caller: Caller = .none, json: String? = nil,
        from address: String = "198.51.100.1", headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = caller.headers
        headers[HTTPField.Name("X-Forwarded-For")!] = address
        headers[.userAgent] = "faceid-tests"
        if json != nil { headers[.contentType] = "application/json" }
        for field in extra { headers[field.name] = field.value }
        let response = try await base.execute(
            uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
        return Reply(status: response.status, headers: response.headers, data: Data(buffer: response.body))
    }

    /// A request with a raw body and content type (multipart bodies carry binary photo bytes).
    func raw(_ method: HTTPRequest.Method, _ uri: String, as caller: Caller, body: Data, contentType: String) async throws -> Reply {
        var headers = caller.headers
        headers[.contentType] = contentType
        let response = try await base.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(bytes: body))
        return Reply(status: response.status, headers: response.headers, data: Data(buffer: response.body))
    }

    func register(_ company: String, email: String? = nil, from address: String = "198.51.100.1") async throws -> Tenant {
        let email = email ?? "owner@\(company.lowercased().filter(\.isLetter)).example"
        let reply = try await call(.post, "/register", json: JSON([
            "company_name": company, "email": email, "password": Self.password, "full_name": "Owner of \(company)",
        ]), from: address)
        try #require(reply.status == .created, "register: \(reply.text)")
        return Tenant(
            token: try #require(reply["token"] as? String),
            companyID: try #require((reply.object("company")["id"] as? NSNumber)?.int64Value),
            ownerID: try #require((reply.object("user")["id"] as? NSNumber)?.int64Value),
            email: email)
    }

    /// Creates a user with `role` in the tenant's company and logs them in.
    func user(_ role: Role, in tenant: Tenant, email: String? = nil) async throws -> (id: Int64, token: String) {
        let email = email ?? "\(role.rawValue)-\(UUID().uuidString.prefix(8))@example.com"
        let created = try await call(.post, "/users", as: tenant.caller, json: JSON([
            "email": email, "password": Self.password, "role": role.rawValue,
        ]))
        try #require(created.status == .created, "create user: \(created.text)")
        let login = try await call(.post, "/login", json: JSON(["email": email, "password": Self.password]))
        try #require(login.status == .ok, "login: \(login.text)")
        return (try #require((created.object("user")["id"] as? NSNumber)?.int64Value), try #require(login["token"] as? String))
    }

    /// Creates an API key with `scopes` and returns its id and whole secret.
    func apiKey(_ scopes: [Scope], in tenant: Tenant, name: String = "test key") async throws -> (id: Int64, key: String) {
        let reply = try await call(.post, "/api-keys", as: tenant.caller, json: JSON([
            "name": name, "scopes": scopes.map(\.rawValue),
        ]))
        try #require(reply.status == .created, "create key: \(reply.text)")
        return (try #require((reply.object("api_key")["id"] as? NSNumber)?.int64Value), try #require(reply["key"] as? String))
    }

    func device(_ name: String, in tenant: Tenant) async throws -> Int64 {
        let reply = try await call(.post, "/devices", as: tenant.caller, json: JSON(["name": name, "location": "Front desk"]))
        try #require(reply.status == .created, "create device: \(reply.text)")
        return try #require((reply.object("device")["id"] as? NSNumber)?.int64Value)
    }
}

/// A JSON text from a literal dictionary.
func JSON(_ object: [String: Any]) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

/// The error-body contract: `success` false, a message and a stable code.
func expectError(_ reply: Reply, _ status: HTTPResponse.Status, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(reply.status == status, "\(reply.text)", sourceLocation: sourceLocation)
    #expect(reply.code == code, "\(reply.text)", sourceLocation: sourceLocation)
    #expect(reply["success"] as? Bool == false, sourceLocation: sourceLocation)
    #expect((reply["error"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
}

extension AppServices {
    /// The SQLite store, for the tests that read or damage its rows directly.
    var sqlite: Store { store as! Store }  // TestServer always builds one
}

/// Runs blocking work — a child process read to its end, a GRDB close that waits for its readers — on a thread of its own,
/// not on one of Swift concurrency's cooperative threads, of which a 2-core machine has two: two such waits at once there
/// leave no thread for the tasks they wait for. A clean-clone CI run hung so (a curl to the in-process HTTPS server in
/// `TLSTests` and a `DatabasePool.close()` at the end of a `TestServer`, both blocked on the pool).
func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
