import Foundation
import Logging
import Prometheus

/// The parts controllers use: configuration, the domain services and what they stand on. It receives its parts;
/// `AppServices.assemble` is the composition root (tests pass their own clock and a shared face-engine pool).
final class AppServices: Sendable {
    let configuration: ServerConfiguration
    let store: any FaceIDStore
    let keyRing: KeyRing
    let index: IndexService
    let faces: FaceEngineProvider
    let clock: ServerClock
    let limiter: RateLimiter
    /// The audit chain's signed head, outside the store; moved by every committed audit append.
    let auditHead: AuditHead
    let metrics: PrometheusCollectorRegistry
    let logger: Logger
    /// Re-embedding stored photos after a company switches its recognition model.
    let migration: ModelMigration
    /// Registration, login, credentials.
    let auth: Auth
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
    /// The kiosk feed's retention.
    let retention: Retention
    /// The browser console's cookie and CSRF tokens.
    let console: ConsoleSession
    /// The console overview's figures from the access log.
    let statistics: AccessStatistics
    /// Consent and subject access.
    let privacy: Privacy
    /// The biometric retention schedule (a daily background job).
    let biometricRetention: BiometricRetention
    /// `DELETE /company`, with crypto-shredding.
    let companyDeletion: CompanyDeletion

    init(configuration: ServerConfiguration, store: any FaceIDStore, keyRing: KeyRing, index: IndexService, faces: FaceEngineProvider,
         clock: ServerClock, limiter: RateLimiter, auditHead: AuditHead, metrics: PrometheusCollectorRegistry, logger: Logger,
         migration: ModelMigration, auth: Auth, tenancy: Tenancy, recognition: Recognition, enrollment: Enrollment, directory: Directory,
         kioskSync: KioskSync, retention: Retention) {
        (self.configuration, self.store, self.keyRing, self.index, self.faces) = (configuration, store, keyRing, index, faces)
        (self.clock, self.limiter, self.auditHead, self.metrics, self.logger) = (clock, limiter, auditHead, metrics, logger)
        (self.migration, self.auth, self.tenancy, self.recognition) = (migration, auth, tenancy, recognition)
        (self.enrollment, self.directory, self.kioskSync, self.retention) = (enrollment, directory, kioskSync, retention)
        console = ConsoleSession(keyRing: keyRing)
        statistics = AccessStatistics(store: store, clock: clock)
        privacy = Privacy(store: store)
        biometricRetention = BiometricRetention(store: store, index: index, clock: clock, defaults: .defaults(configuration), logger: logger)
        companyDeletion = CompanyDeletion(store: store, keyRing: keyRing, index: index, images: index.images, auditHead: auditHead, auth: auth,
                                          clock: clock, logger: logger)
    }

    /// Builds every part from the configuration, the opened store and the key ring.
    /// - Parameters:
    ///   - faces: the face engines; tests share one pool across servers (loading the models is the slow part).
    ///   - indexChecker: the `faceid-server` executable that reads the index in a child process before it is opened
    ///     (`IndexService`); nil in tests.
    static func assemble(configuration: ServerConfiguration, store: any FaceIDStore, keyRing: KeyRing, metrics: PrometheusCollectorRegistry,
                         logger: Logger, clock: ServerClock = .system, faces: FaceEngineProvider? = nil,
                         indexChecker: String? = nil) async throws -> AppServices {
        let defaults = CompanySettings.defaults(configuration)
        let limits = configuration.rateLimits
        let index = try IndexService(directory: configuration.indexPath, store: store, keyRing: keyRing,
                                     images: store as? any PhotoRepository ?? ImageVault(directory: configuration.imagesPath), logger: logger,
                                     node: configuration.nodeName, trainingThreshold: configuration.trainingThreshold,
                                     vectorResidence: configuration.indexVectors, checker: indexChecker)
        let faces = faces ?? FaceEngineProvider(modelDirectory: configuration.modelDirectory)
        let limiter = RateLimiter(now: { clock.instant }, shared: store as? any SharedRateLimits, wallNow: { clock.now }, logger: logger)
        let migration = ModelMigration(store: store, index: index, faces: faces, keyRing: keyRing, defaults: defaults, logger: logger)
        let recognition = Recognition(store: store, index: index, faces: faces, clock: clock)
        return AppServices(
            configuration: configuration, store: store, keyRing: keyRing, index: index, faces: faces, clock: clock, limiter: limiter,
            auditHead: try await store.publishAuditHead(directory: configuration.auditHeadPath, node: configuration.nodeName,
                                                           master: keyRing.master, logger: logger),
            metrics: metrics, logger: logger, migration: migration,
            auth: Auth(store: store, keyRing: keyRing, limiter: limiter, limits: limits, clock: clock, defaults: defaults,
                       bcryptCost: configuration.bcryptCost),
            tenancy: Tenancy(store: store, images: index.images, migration: migration, defaults: defaults,
                             maximumPerMinute: limits.companyPerMinute),
            recognition: recognition,
            enrollment: Enrollment(store: store, index: index, faces: faces, keyRing: keyRing, recognition: recognition, defaults: defaults),
            directory: Directory(store: store, index: index, keyRing: keyRing),
            kioskSync: KioskSync(store: store, index: index, keyRing: keyRing, limiter: limiter, limits: limits, logger: logger),
            retention: Retention(store: store, index: index, clock: clock, tombstoneDays: configuration.tombstoneDays, logger: logger))
    }

    var defaultSettings: CompanySettings { .defaults(configuration) }
}
