import Configuration
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import HummingbirdTLS
import Logging
import NIOSSL
import Prometheus

/// The application type `buildApplication` returns.
public typealias FaceIDApplication = Application<RouterResponder<AppRequestContext>>

/// Builds the server: opens the store, checks the master key, wires controllers and middleware,
/// and configures TLS unless `http.plaintext` is set.
///
/// - Parameters:
///   - indexChecker: the `faceid-server` executable: the index is read in a child process (`--check-index`) before
///     this process maps it, so that a damaged page that would crash LMDB only kills the child. Nil: no child check.
///   - onServerRunning: called with the bound channel (its local address gives the port when `http.port` is 0).
/// - Throws: `ConfigurationError` when the master key or the TLS files are missing or unreadable.
public func buildApplication(
    configuration: ServerConfiguration,
    logger baseLogger: Logger? = nil,
    indexChecker: String? = nil,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws -> FaceIDApplication {
    var logger = baseLogger ?? Logger(label: "faceid")
    logger.logLevel = configuration.logLevel
    guard let masterKey = configuration.masterKey else {
        throw ConfigurationError(
            key: "crypto.masterKey",
            message: """
                no master key. Set FACEID_CRYPTO_MASTER_KEY or put one in \(configuration.masterKeyFile); \
                make one with: head -c 32 /dev/urandom | base64 > \(configuration.masterKeyFile) && chmod 600 \(configuration.masterKeyFile) \
                (`make run` does this on first start). Keep a copy: without it the biometric data cannot be read.
                """)
    }
    // The owner's alone when this start creates it; an existing folder open to other users is reported, not changed.
    try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true,
                                            attributes: [.posixPermissions: 0o700])
    DataDirectory.warnIfExposed(configuration.dataDirectory, logger: logger)
    // The embedded SQLite store, or PostgreSQL shared by several nodes (`store.url`). PostgreSQL's connection pool runs from
    // here (the store is read before the server starts) until `StoreService` stops it after everything else.
    let store: any FaceIDStore
    var stopPool: @Sendable () async -> Void = {}
    if let url = configuration.storeURL {
        let postgres = try PostgresStore(url: url, logger: logger)
        let pool = Task { await postgres.run() }
        stopPool = { pool.cancel(); await pool.value }
        do {
            try await postgres.migrate()
        } catch {
            await stopPool()
            throw ConfigurationError(key: "store.url", message: "PostgreSQL at \(PostgresStore.redacted(url)) does not answer or cannot be migrated (\(type(of: error)))")
        }
        store = postgres
        logger.notice("the store is PostgreSQL", metadata: ["url": .string(PostgresStore.redacted(url))])
    } else {
        store = try Store(path: configuration.databasePath)
    }
    // The key vault beside the store (`keys.sqlite`, or PostgreSQL's `faceid_keys` schema): no company data key opens without it.
    let keyRing = KeyRing(master: masterKey, vault: try store.keyVault(dataDirectory: configuration.dataDirectory))
    try await keyRing.loadSecrets()
    // Before the index opens: its records are sealed with keys derived from these, so with a wrong key every one would
    // fail to open and look like damage.
    let shredded = try await keyRing.verify(against: store)
    if !shredded.isEmpty {
        logger.warning("companies whose data key is destroyed (deleted; the store was put back from an older backup?)",
                       metadata: ["company_ids": "\(shredded)"])
    }
    let rewrapped = try await keyRing.rewrapLegacyKeys(in: store)
    if rewrapped > 0 { logger.notice("moved company data keys to the key vault", metadata: ["companies": "\(rewrapped)"]) }
    let services = try await AppServices.assemble(
        configuration: configuration, store: store, keyRing: keyRing, metrics: PrometheusCollectorRegistry(), logger: logger,
        indexChecker: indexChecker)
    // Replays whatever the store committed and the index did not (a crash, or a deleted index folder); a damaged
    // index is moved aside and rebuilt in the background (`/readyz` 503 until done).
    do {
        try await services.index.start()
    } catch let error as ServiceError {
        throw ConfigurationError(key: "crypto.masterKey", message: "the stored data does not open: \(error.logMessage ?? error.message)")
    }
    let resumed = try await services.companyDeletion.resume()
    if resumed > 0 { logger.notice("finished company deletions a stopped process left under way", metadata: ["companies": "\(resumed)"]) }
    let swept = try await services.index.images.sweepPhotos(store)
    if swept > 0 { logger.info("removed \(swept) stored photos of deleted faces") }
    try await services.migration.resumeAll()
    let (router, _) = buildRouter(services: services)

    let server: HTTPServerBuilder
    if configuration.plaintext {
        logger.warning("serving plain HTTP (http.plaintext): only behind a TLS-terminating proxy or in tests")
        server = .http1()
    } else {
        server = try .tls(.http1(), tlsConfiguration: try makeTLSConfiguration(configuration))
    }
    return Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "faceid"),
        // Shut down in reverse order, after the HTTP server has drained: the index's follower, the retention job, then the
        // store (after the background jobs that use it).
        services: [StoreService(store: store, logger: logger, beforeClose: {
            await services.migration.shutdown()
            await services.index.shutdown()
        }, afterClose: stopPool), services.retention, services.biometricRetention, services.index],
        onServerRunning: onServerRunning,
        logger: logger)
}

/// The router with every controller, and the table of routes with their permissions.
func buildRouter(services: AppServices) -> (Router<AppRequestContext>, [RouteInfo]) {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: RequestLogMiddleware(metrics: services.metrics))
    router.add(middleware: SecurityHeadersMiddleware(https: !services.configuration.plaintext))
    let templates = RouteTemplates()
    router.add(middleware: ErrorMiddleware(routes: templates))
    var table: [RouteInfo] = []
    var routes = ProtectedRoutes(router: router, services: services)
    SystemController(services: services).addRoutes(to: router, table: &table)
    AuthController(services: services).addRoutes(to: router, protected: &routes, table: &table)
    ConsoleController(services: services, assets: .bundled).addRoutes(to: router, table: &table)
    StatsController(services: services).addRoutes(to: &routes)
    PrivacyController(services: services).addRoutes(to: &routes)
    UsersController(services: services).addRoutes(to: &routes)
    APIKeysController(services: services).addRoutes(to: &routes)
    DevicesController(services: services).addRoutes(to: &routes)
    SettingsController(services: services).addRoutes(to: &routes)
    CompanyController(services: services).addRoutes(to: &routes)
    AuditController(services: services).addRoutes(to: &routes)
    PersonsController(services: services).addRoutes(to: &routes)
    FacesController(services: services).addRoutes(to: &routes)
    RecognitionController(services: services).addRoutes(to: &routes)
    ModelsController(services: services).addRoutes(to: &routes)
    IndexController(services: services).addRoutes(to: &routes)
    EmployeesController(services: services).addRoutes(to: &routes)
    KioskController(services: services).addRoutes(to: &routes)
    // The console's mirror of each protected route answers 405 with `Allow` as the route itself does.
    let mirrored = routes.table.map { RouteInfo(method: $0.method, path: ProtectedRoutes.consolePrefix + $0.path, permission: $0.permission) }
    templates.set(table + routes.table + mirrored)
    return (router, table + routes.table)
}

func makeTLSConfiguration(_ configuration: ServerConfiguration) throws -> TLSConfiguration {
    let certificates: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey
    do {
        certificates = try NIOSSLCertificate.fromPEMFile(configuration.certificatePath)
        key = try NIOSSLPrivateKey(file: configuration.privateKeyPath, format: .pem)
    } catch {
        throw ConfigurationError(
            key: "tls.certificatePath",
            message: """
                cannot read the TLS certificate \(configuration.certificatePath) or key \(configuration.privateKeyPath). \
                `make run` generates a self-signed pair for localhost; or set http.plaintext=true behind a TLS proxy.
                """)
    }
    var tls = TLSConfiguration.makeServerConfiguration(certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
    tls.minimumTLSVersion = .tlsv12
    return tls
}
