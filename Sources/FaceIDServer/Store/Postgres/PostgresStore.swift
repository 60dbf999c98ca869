import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The store on PostgreSQL (through postgres-nio), for deployments of several faceid nodes sharing one database.
///
/// It implements the same repository protocols as the SQLite store, so no service knows which one it talks to. Every
/// query carries its company. The client's connection pool runs as a ServiceLifecycle service (`run`).
///
/// `StoreContractTests` hold it to the SQLite store's behaviour.
final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// The feed's listener connects on its own, outside the pool (`listen`); nil with `?notify=off` (followers only poll:
    /// for measuring what NOTIFY saves).
    private let listenerConfiguration: PostgresConnection.Configuration?
    /// Called after a commit that appended to the feed (a NOTIFY on `faceid_feed`), and after each (re)connection of the
    /// listener, which may have missed some.
    private let wakeHandlers = Mutex<[@Sendable () -> Void]>([])
    /// The audit chain's signed head outside the store, once published: moved after each commit that appended events.
    let auditHead = Mutex<AuditHead?>(nil)

    /// - Parameter url: `postgres://user:password@host:port/database`, or `postgres:///database?host=/run/postgresql`
    ///   for a Unix socket.
    init(url: String, logger: Logger) throws {
        self.client = PostgresClient(configuration: try Self.configuration(url), backgroundLogger: logger)
        let notify = URLComponents(string: url)?.queryItems?.first(where: { $0.name == "notify" })?.value != "off"
        self.listenerConfiguration = notify ? try Self.connectionConfiguration(url) : nil
        self.logger = logger
    }

    /// The client configuration from a `postgres://` URL (TLS with `?sslmode=require` or `verify-full`);
    /// `?pool=N` caps the connections this node opens (default 20), `?min=N` is how many it keeps open (default 2);
    /// `?notify=off` leaves out the LISTEN connection (the followers poll every 2 s).
    ///
    /// Keeping some open matters: postgres-nio 1.33 replaces a closed connection only below that minimum, and its waiting
    /// leases start no connection of their own — after a PostgreSQL restart a pool with no minimum can leave requests
    /// waiting (vapor/postgres-nio#657). (Tests that run a hundred stores at once keep none open.)
    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        var configuration = try baseConfiguration(url)
        let items = URLComponents(string: url)?.queryItems ?? []
        func number(_ name: String) -> Int? { items.first(where: { $0.name == name })?.value.flatMap(Int.init) }
        if let pool = number("pool"), pool > 0 { configuration.options.maximumConnections = pool }
        configuration.options.minimumConnections = min(max(number("min") ?? 2, 0), configuration.options.maximumConnections)
        return configuration
    }

    /// One connection's configuration from the same URL (the feed's listener).
    static func connectionConfiguration(_ url: String) throws -> PostgresConnection.Configuration {
        let client = try baseConfiguration(url)
        if let path = client.unixSocketPath {
            return PostgresConnection.Configuration(unixSocketPath: path, username: client.username, password: client.password,
                                                    database: client.database)
        }
        var configuration = PostgresConnection.Configuration(host: client.host ?? "localhost", port: client.port ?? 5432,
                                                             username: client.username, password: client.password,
                                                             database: client.database, tls: try connectionTLS(url))
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    private static func baseConfiguration(_ url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme) else {
            throw ConfigurationError(key: "store.url", message: "expected postgres://user:password@host:port/database, got \(redacted(url))")
        }
        let user = components.user ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        let database = components.path.isEmpty ? nil : String(components.path.dropFirst())
        if let socketFolder = components.queryItems?.first(where: { $0.name == "host" })?.value, socketFolder.hasPrefix("/") {
            let port = components.port ?? 5432
            return PostgresClient.Configuration(unixSocketPath: "\(socketFolder)/.s.PGSQL.\(port)", username: user,
                                                password: components.password, database: database)
        }
        return PostgresClient.Configuration(host: components.host ?? "localhost", port: components.port ?? 5432, username: user,
                                            password: components.password, database: database, tls: try clientTLS(url))
    }

    /// `?sslmode=` as libpq spells it: `disable` (the default: loopback, or a private network), `require` (encrypted, the
    /// server's certificate not checked), `verify-full` (encrypted, the certificate checked against `sslrootcert=<PEM file>`
    /// — or the system's roots — and the host name).
    private static func tlsConfiguration(_ url: String) throws -> TLSConfiguration? {
        let items = URLComponents(string: url)?.queryItems ?? []
        let mode = items.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        var tls = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case "disable":
            return nil
        case "require":
            tls.certificateVerification = .none
        case "verify-full":
            if let root = items.first(where: { $0.name == "sslrootcert" })?.value {
                tls.trustRoots = .file(root)
            }
        default:
            throw ConfigurationError(key: "store.url", message: "sslmode must be disable, require or verify-full, got \(mode)")
        }
        return tls
    }

    private static func clientTLS(_ url: String) throws -> PostgresClient.Configuration.TLS {
        try tlsConfiguration(url).map { .require($0) } ?? .disable
    }

    private static func connectionTLS(_ url: String) throws -> PostgresConnection.Configuration.TLS {
        guard let tls = try tlsConfiguration(url) else { return .disable }
        return .require(try NIOSSLContext(configuration: tls))
    }

    /// `url` without its password, for the log.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "(a URL that does not parse)" }
        guard components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "postgres://…"
    }

    /// Runs the connection pool, and the feed's listener, until cancelled (a ServiceLifecycle service, or a task in tests).
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            if let listenerConfiguration { group.addTask { await self.listen(listenerConfiguration) } }
        }
    }

    func onFeedCommit(_ wake: @escaping @Sendable () -> Void) {
        wakeHandlers.withLock { $0.append(wake) }
    }

    /// Every company's last feed sequence number.
    func feedHeads() async throws -> [Int64: Int64] {
        Dictionary(uniqueKeysWithValues: try await fetch("SELECT company_id, last_seq FROM feed_heads", logger: logger)
            .decode((Int64, Int64).self).elements().map { ($0.0, $0.1) })
    }

    private func wakeAll() {
        for wake in wakeHandlers.withLock({ $0 }) { wake() }
    }

    /// LISTEN on `faceid_feed` on a connection of its own, outside the pool (a lease held for good would count in the pool's
    /// sums as one about to come back); a lost connection is reopened after a second, and the followers are woken then
    /// (they catch up fully: notifications sent meanwhile were lost).
    private func listen(_ listenerConfiguration: PostgresConnection.Configuration) async {
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            do {
                let connection = try await PostgresConnection.connect(configuration: listenerConfiguration, id: attempt, logger: logger)
                do {
                    try await connection.listen(on: "faceid_feed") { notifications in
                        wakeAll()
                        for try await _ in notifications { wakeAll() }
                    }
                    try? await connection.close()
                } catch {
                    try? await connection.close()
                    throw error
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("the feed listener lost its connection; reconnecting",
                               metadata: ["error": .string(String(describing: type(of: error)))])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Whether the database answers (`/readyz`).
    func isReady() async -> Bool {
        (try? await fetch("SELECT 1", logger: logger).rows.count) == 1
    }
}

extension PostgresError.Code {
    /// Whether the error is this SQLSTATE (a `PSQLError` from the server).
    static func ~= (code: PostgresError.Code, error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == code.raw
    }
}

/// A statement assembled in parts (a filter added per field given), each value bound as the next `$n`.
struct Statement {
    private(set) var sql: String
    private var binds = PostgresBindings()

    init(_ sql: String) {
        self.sql = sql
    }

    /// Appends `part`, in which each `?` becomes the placeholder of the next of `values`.
    mutating func append(_ part: String, _ values: any PostgresDynamicTypeEncodable...) {
        var values = values[...]
        for character in part {
            if character == "?", let value = values.popFirst() {
                binds.append(value)
                sql += "$\(binds.count)"
            } else {
                sql.append(character)
            }
        }
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
