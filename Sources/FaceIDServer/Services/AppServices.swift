import Foundation
import Hummingbird
import HummingbirdBcrypt
import Logging
import NIOPosix
import Prometheus

/// The dependencies controllers share: configuration, store, keys, limits, metrics.
final class AppServices: Sendable {
    let configuration: ServerConfiguration
    let store: Store
    let keyRing: KeyRing
    let index: IndexService
    let faces: FaceEngineProvider
    /// Re-embedding stored photos after a company switches its recognition model.
    let migration: ModelMigration
    /// Company settings and what changing them starts.
    let tenancy: Tenancy
    /// 1:N and 1:1 search, the decision rule, the access log.
    let recognition: Recognition
    /// Photo enrollment, imports, face removal.
    let enrollment: Enrollment
    /// Persons, groups, employees: the writes that remove faces wait for the index.
    let directory: Directory
    /// The kiosks' contract: face registration, the employee table, the feed, acknowledgements.
    let kioskSync: KioskSync
    let limiter = RateLimiter()
    /// The audit chain's signed head, outside the store; moved by every committed audit append.
    let auditHead: AuditHead
    let metrics: PrometheusCollectorRegistry
    let logger: Logger
    /// A bcrypt hash of a random password: verified against when an email is unknown, so a login
    /// for a missing account costs the same time as one for a real account.
    let decoyPasswordHash: String

    /// - Parameter indexChecker: the `faceid-server` executable that reads the index in a child process before it is
    ///   opened (`IndexService`); nil in tests.
    init(configuration: ServerConfiguration, store: Store, keyRing: KeyRing, metrics: PrometheusCollectorRegistry, logger: Logger,
         indexChecker: String? = nil) throws {
        self.configuration = configuration
        self.store = store
        self.keyRing = keyRing
        index = try IndexService(directory: configuration.indexPath, store: store, keyRing: keyRing,
                                 images: ImageVault(directory: configuration.imagesPath), logger: logger, checker: indexChecker)
        faces = FaceEngineProvider(modelDirectory: configuration.modelDirectory)
        migration = ModelMigration(store: store, index: index, faces: faces, keyRing: keyRing, defaults: .defaults(configuration),
                                   logger: logger)
        tenancy = Tenancy(store: store, images: index.images, migration: migration, defaults: .defaults(configuration),
                          maximumPerMinute: configuration.rateLimits.companyPerMinute)
        recognition = Recognition(store: store, index: index, faces: faces)
        enrollment = Enrollment(store: store, index: index, faces: faces, keyRing: keyRing, recognition: recognition,
                                defaults: .defaults(configuration))
        directory = Directory(store: store, index: index, keyRing: keyRing)
        kioskSync = KioskSync(store: store, index: index, keyRing: keyRing, limiter: limiter, limits: configuration.rateLimits,
                              logger: logger)
        self.metrics = metrics
        self.logger = logger
        auditHead = try store.publishAuditHead(directory: configuration.auditHeadPath, master: keyRing.master, logger: logger)
        decoyPasswordHash = Bcrypt.hash(Credentials.randomBase64URL(byteCount: 16), cost: UInt8(configuration.bcryptCost))
    }

    var defaultSettings: CompanySettings { .defaults(configuration) }

    /// bcrypt on NIO's blocking thread pool, off the event loop and the cooperative pool.
    func hashPassword(_ password: String) async throws -> String {
        let cost = UInt8(configuration.bcryptCost)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    func verifyPassword(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    /// The caller's address and user agent, for the audit log and per-address limits.
    func origin(_ request: Request, _ context: AppRequestContext) -> RequestOrigin {
        request.origin(context, trustForwardedFor: configuration.trustForwardedFor)
    }

    /// Takes a token or throws 429 with `Retry-After`.
    func limit(_ key: String, _ limit: RateLimiter.Limit) throws(ServiceError) {
        if let retryAfter = limiter.take(key, limit: limit) { throw .rateLimited(retryAfter: retryAfter) }
    }
}
