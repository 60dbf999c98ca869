import Foundation
import Logging

// The store behind protocols, one per aggregate. `Store` (SQLite through GRDB) conforms to all of them; a service
// names only those it uses, so a second implementation (PostgreSQL) plugs in without touching a service. Each call
// carries its company and throws `StoreError`, never an HTTP error.

/// Companies, users, sessions, API keys, devices and settings: who may call, inside one company.
protocol TenancyRepository: Sendable {
    func registerCompany(name: String, owner: UserRecord, settings: CompanySettings, keyRing: KeyRing, dataKey: KeyRing.NewDataKey, tokenHash: Data, origin: RequestOrigin, now: Date) async throws -> (CompanyRecord, UserRecord, SessionRecord)
    func companyIDs() async throws -> [Int64]
    func company(_ companyID: Int64) async throws -> CompanyRecord?
    func account(email: String) async throws -> (UserRecord, CompanyRecord)?
    func createSession(user: UserRecord, tokenHash: Data, lifetimeMinutes: Int, origin: RequestOrigin, now: Date) async throws -> SessionRecord
    func liveSession(tokenHash: Data, now: Date) async throws -> (SessionRecord, UserRecord, CompanyRecord)?
    func liveAPIKey(secretHash: Data, now: Date) async throws -> (APIKeyRecord, CompanyRecord)?
    func revokeSession(companyID: Int64, sessionID: Int64, actor: String, origin: RequestOrigin) async throws
    func users(companyID: Int64) async throws -> [UserRecord]
    func user(id: Int64, companyID: Int64) async throws -> UserRecord?
    func createUser(_ user: UserRecord, actor: String, origin: RequestOrigin) async throws -> UserRecord
    func updateUser(id: Int64, companyID: Int64, change: Store.UserChange, actor: String, origin: RequestOrigin, check: @Sendable (UserRecord) throws -> Void) async throws -> UserRecord
    func deleteUser(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin, check: @Sendable (UserRecord) throws -> Void) async throws
    func createAPIKey(_ key: APIKeyRecord, origin: RequestOrigin) async throws -> APIKeyRecord
    func apiKeys(companyID: Int64) async throws -> [APIKeyRecord]
    func revokeAPIKey(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws
    func createDevice(_ device: DeviceRecord, actor: String, origin: RequestOrigin) async throws -> DeviceRecord
    func devices(companyID: Int64) async throws -> [DeviceRecord]
    func device(id: Int64, companyID: Int64) async throws -> DeviceRecord?
    func deleteDevice(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws
    func companySettings(fallback: CompanySettings) async throws -> [(Int64, CompanySettings)]
    func companySettings(companyID: Int64, fallback: CompanySettings) async throws -> CompanySettings?
    func updateSettings(companyID: Int64, fallback: CompanySettings, actor: String, origin: RequestOrigin, change: @Sendable (CompanySettings) throws -> CompanySettings) async throws -> (before: CompanySettings, after: CompanySettings)
    func wrappedKey(companyID: Int64) async throws -> Data?
    func isReady() async -> Bool
    /// Records a company's deletion as begun (idempotent).
    func beginCompanyDeletion(companyID: Int64, requestedBy: String, at: Date) async throws -> DeletedCompanyRecord
    /// Removes every row of the company in one transaction and records the deletion as done; the rows per table.
    func eraseCompany(companyID: Int64, at: Date) async throws -> [String: Int]
    /// Every deletion begun, done or not.
    func deletedCompanies() async throws -> [DeletedCompanyRecord]
    /// The company's rows per table (zero everywhere once it is deleted).
    func companyRowCounts(companyID: Int64) async throws -> [String: Int]
}

/// Persons, groups and faces with their sealed embeddings; every call scoped by the company.
protocol PersonRepository: Sendable {
    func createGroup(_ group: GroupRecord, actor: String, origin: RequestOrigin) async throws -> GroupRecord
    func groups(companyID: Int64) async throws -> [(GroupRecord, Int)]
    func deleteGroup(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws
    func createPerson(_ person: PersonRecord, groups: [String], actor: String, origin: RequestOrigin) async throws -> Store.Person
    func person(id: Int64, companyID: Int64) async throws -> Store.Person?
    func persons(ofFaces faceIDs: [Int64], companyID: Int64) async throws -> [Int64: Store.Person]
    func persons(companyID: Int64, filter: Store.PersonFilter) async throws -> [Store.Person]
    func updatePerson(id: Int64, companyID: Int64, change: Store.PersonChange, actor: String, origin: RequestOrigin) async throws -> Store.Person
    func deletePerson(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws
    func addFaces( _ faces: [Store.NewFace], companyID: Int64, source: String, reference: Bool, keyRing: KeyRing, actor: String, origin: RequestOrigin) async throws -> [FaceRecord]
    func enroll(companyID: Int64, embeddings: [RecognitionModel: [Float]], personID: Int64?, newPerson: PersonRecord?, groups: [String], reference: Bool, keyRing: KeyRing, photo: Store.KeptPhoto?, actor: String, origin: RequestOrigin) async throws -> (Store.Person, FaceRecord)
    func addEmbedding(faceID: Int64, companyID: Int64, model: RecognitionModel, vector: [Float], keyRing: KeyRing) async throws -> Bool
    func faceIDs(inGroup name: String, companyID: Int64) async throws -> Set<UInt64>?
    func face(id: Int64, companyID: Int64) async throws -> FaceRecord?
    func faces(personID: Int64, companyID: Int64) async throws -> [FaceRecord]?
    func deleteFace(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws
    func existingFaces(_ faceIDs: [Int64], companyID: Int64) async throws -> Set<Int64>
    func facesLacking(_ model: RecognitionModel, companyID: Int64, afterID: Int64, limit: Int) async throws -> [(faceID: Int64, personID: Int64)]
    func personsLacking(_ model: RecognitionModel, companyID: Int64, limit: Int) async throws -> (count: Int, persons: [(PersonRecord, Int)])
    func hasFaces(onlyOf model: RecognitionModel, companyID: Int64) async throws -> Bool
    func rowModels(ofFaces faceIDs: [Int64], companyID: Int64) async throws -> [Int64: String]
    func embeddingCounts(companyID: Int64) async throws -> (faces: Int, with: [RecognitionModel: Int])
    func quarantine(faceID: Int64, companyID: Int64, reason: String) async throws -> Bool
    func quarantinedFaceCount() async throws -> Int
    /// Records (or replaces) a person's consent, audited `person.consent`; 404 for an unknown person.
    func setConsent(_ consent: ConsentRecord, origin: RequestOrigin) async throws
    /// Removes a person's consent, audited `person.consent_withdrawn`; false when there was none.
    func withdrawConsent(personID: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws -> Bool
    /// The consents of those of `personIDs` that have one.
    func consents(personIDs: [Int64], companyID: Int64) async throws -> [Int64: ConsentRecord]
    /// Persons of the company with faces whose last interaction — their newest face's enrollment or kiosk upload, or the
    /// last search that matched them — is before `before`, by id after `afterID`, at most `limit`.
    func idleBiometrics(companyID: Int64, before: Date, afterID: Int64, limit: Int) async throws -> [Store.IdlePerson]
    /// Destroys the faces of `personIDs` (photos and index entries follow through the feed; kiosks get the deletes),
    /// audited once as `face.retention_delete` with the count; returns how many faces went.
    func retentionDelete(companyID: Int64, personIDs: [Int64], days: Int) async throws -> Int
}

/// Employees (persons with a timekeeper id), kiosk face registrations, devices' acknowledgements.
protocol EmployeeRepository: Sendable {
    func createEmployee(_ row: Store.EmployeeRow, companyID: Int64, actor: String, origin: RequestOrigin) async throws -> Store.Employee
    func importEmployees(_ rows: [Store.EmployeeRow], companyID: Int64, actor: String, origin: RequestOrigin) async throws -> (created: Int, updated: Int)
    func employees(companyID: Int64, includeDeleted: Bool, afterID: Int64?, limit: Int) async throws -> [Store.Employee]
    func employee(id: Int64, companyID: Int64) async throws -> Store.Employee?
    func updateEmployee(id: Int64, companyID: Int64, change: Store.EmployeeChange, actor: String, origin: RequestOrigin) async throws -> Store.Employee
    func deleteEmployee(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws
    func ownership(ofEmployee id: Int64, companyID: Int64) async throws -> Store.Ownership
    func registerKioskFace(employeeID: Int64, companyID: Int64, encoding: [Double], registeredAt: Date?, keyRing: KeyRing, actor: String, deviceID: Int64?, origin: RequestOrigin) async throws -> Date
    func deleteKioskFaces(employeeID: Int64, companyID: Int64, actor: String, deviceID: Int64?, origin: RequestOrigin) async throws -> Bool
    func activeEmployeeCount(companyID: Int64) async throws -> Int
    func timekeeperPage(companyID: Int64, page: Int, pageSize: Int) async throws -> (total: Int, employees: [Store.Employee])
    func acknowledge(deviceID: Int64, companyID: Int64, seq: Int64) async throws -> DeviceRecord
    func propagation(employeeID: Int64, companyID: Int64) async throws -> (latest: (seq: Int64, atMicros: Int64?), devices: [DeviceRecord])?
}

/// The change feeds: what the index follows (faces) and what kiosks follow (employees), with their heads and retention.
protocol FeedRepository: Sendable {
    func faceChanges(companyID: Int64, after seq: Int64, limit: Int) async throws -> (changes: [Store.FaceChange], position: Int64)
    func faceSnapshot(companyID: Int64, afterFaceID: Int64, limit: Int) async throws -> (faces: [Store.FaceChange], position: Int64)
    func feedPosition(companyID: Int64) async throws -> Int64
    func purgedThrough(companyID: Int64) async throws -> Int64
    func companiesWithFaces() async throws -> [(Int64, Data)]
    func feedHead(companyID: Int64) async throws -> Store.FeedHead
    func employeeChanges(companyID: Int64, after seq: Int64, limit: Int) async throws -> (changes: [(seq: Int64, personID: Int64, employee: Store.Employee?)], head: Store.FeedHead)
    func purgeFeed(companyID: Int64, olderThan horizon: Date, notPast limit: Int64) async throws -> Int64
}

/// The index models one node trains and every node installs ("no node trains alone"): a node that finds a collection past
/// the training size claims its training (a claim with an expiry, so a node that dies does not hold it for good), trains on
/// its own copy, and publishes the sealed model with a `model` row in the company's feed; every node — the trainer too —
/// installs it when its index reaches that row, so copies at one watermark hold one model. One model per collection: a
/// second publication of the same space writes nothing.
protocol IndexModelRepository: Sendable {
    /// Claims the training of the company's `space` model for `node` until `until`.
    func claimModelTraining(companyID: Int64, space: String, node: String, now: Date, until: Date) async throws -> ModelClaim
    /// Appends a `model` row to the company's feed and stores the sealed model under its sequence number, in one transaction;
    /// nil (nothing written) when the space has a published model already.
    func publishIndexModel(companyID: Int64, space: String, sealed: Data, node: String, at: Date) async throws -> Int64?
    /// The company's published models (a snapshot load installs them before loading the faces).
    func indexModels(companyID: Int64) async throws -> [Store.PublishedModel]
}

/// What a training claim found.
enum ModelClaim: Sendable, Equatable {
    /// This node trains: nobody had claimed, or the claim had expired, or it was this node's.
    case claimed
    /// A model of the space is published: nothing to train.
    case published
    /// Another node is training it.
    case heldElsewhere
}

/// The access log and the hash-chained audit log.
protocol LogRepository: Sendable {
    func appendAccess(_ entry: AccessRecord, retentionDays: Int) async throws
    func accessEntries(companyID: Int64, filter: Store.AccessFilter) async throws -> [AccessRecord]
    func overview(companyID: Int64, sinceMicros: Int64, offsetMicros: Int64, topLocations: Int) async throws -> Store.Overview
    func audit(_ event: AuditEvent, companyID: Int64) async throws
    func auditEvents(companyID: Int64, filter: Store.AuditFilter) async throws -> [AuditRecord]
    func verifyAudit(companyID: Int64, head: AuditHead) async throws -> (chain: AuditLog.Verification, head: AuditHead.Status, eventsAfterHead: Int)
}

/// How the index's follower learns of new feed rows: a wake-up after each commit that appended (SQLite: a commit
/// observer; PostgreSQL: LISTEN/NOTIFY, reconnecting), and every company's feed head to compare with its own position.
protocol FeedFollowing: Sendable {
    /// Every company's last feed sequence number (a small table: one row per company, kept by the feed's triggers).
    func feedHeads() async throws -> [Int64: Int64]
    func onFeedCommit(_ wake: @escaping @Sendable () -> Void)
    /// Records how far this node's index has applied each company's feed (nodes sharing a store; the feed's retention keeps
    /// every row a live node has not applied). SQLite is never shared: nothing to record.
    func reportIndexPositions(node: String, _ positions: [Int64: Int64], at: Date) async throws
    /// The lowest position any node reported for the company at or after `since`; nil when none did.
    func lowestIndexPosition(companyID: Int64, reportedSince since: Date) async throws -> Int64?
}

/// Enrollment photos of companies with `store_images` on: sealed files beside the SQLite store (`ImageVault`), or a table of
/// the PostgreSQL store (`face_photos`), which every node reads and whose rows go with their faces. The write happens inside
/// the enrollment's transaction (`PersonRepository.enroll`, given `fileVault` when there is one).
protocol PhotoRepository: Sendable {
    /// The folder the store's enrollment writes photos to, when photos are files (nil: the store keeps them itself).
    var fileVault: ImageVault? { get }
    /// The photo, or nil when none was kept.
    func photo(companyID: Int64, faceID: Int64, sealer: Sealer) async throws -> Data?
    /// Drops the photos of deleted faces (the feed's deletes, applied by the index).
    func removePhotos(companyID: Int64, faceIDs: [Int64]) async throws
    /// Every photo of the company (it turned `store_images` off).
    func removeAllPhotos(companyID: Int64) async throws
    /// Removes photos whose face the store no longer has; how many.
    func sweepPhotos(_ store: any PersonRepository) async throws -> Int
    /// How many of `faceIDs` have a kept photo.
    func photoCount(companyID: Int64, faceIDs: [Int64]) async throws -> Int
}

/// The `Idempotency-Key`s of a day: claims, the applied mark (set inside the write's own transaction), the answers.
protocol IdempotencyRepository: Sendable {
    /// Claims `key` for a request with `fingerprint`, or says what an earlier request with it left (`Idempotency.Claim`).
    func claimIdempotencyKey(companyID: Int64, key: String, fingerprint: Data, now: Date) async throws -> Idempotency.Claim
    /// Stores the answer of the request that holds `mark`.
    func finishIdempotencyKey(_ mark: Idempotency.Mark, status: Int, contentType: String?, body: Data) async throws
    /// Gives up a claim whose request failed before applying anything: a retry runs again.
    func releaseIdempotencyKey(_ mark: Idempotency.Mark) async throws
    /// Forgets keys claimed before `date`.
    func purgeIdempotencyKeys(claimedBefore date: Date) async throws
}

/// Rate limits every node shares (PostgreSQL): one row per key, updated by one statement.
protocol SharedRateLimits: Sendable {
    /// Takes (or with `commit` false only checks) one request from `key`'s allowance of `capacity` per window: a token bucket
    /// refilled at `capacity` per window, or with `slidingWindow` at most `capacity` in any window. Nil when allowed, else
    /// the seconds to wait.
    func takeShared(_ key: String, capacity: Int, windowMicros: Int64, slidingWindow: Bool, nowMicros: Int64, commit: Bool) async throws -> Int?
    /// How many nodes reported their index's position since `since`.
    func liveNodeCount(since: Date) async throws -> Int
    /// Drops keys untouched since `idleSince`.
    func pruneRateLimits(idleSince: Date) async throws
}

/// What the server does with the store at start and at shutdown.
protocol StoreLifecycle: Sendable {
    /// Every company's wrapped data key (the master key check at start).
    func wrappedKeys() async throws -> [(companyID: Int64, wrapped: Data)]
    /// Replaces a company's wrapped key if it is still `old` (compare-and-set): the key ring's move of a legacy key.
    func replaceWrappedKey(companyID: Int64, old: Data, new: Data) async throws -> Bool
    /// Where this store's key vault lives: `keys.sqlite` in the data folder, or PostgreSQL's `faceid_keys` schema.
    func keyVault(dataDirectory: String) throws -> any KeyVault
    /// Starts keeping the audit chain's signed head in `directory`, moved by every committed audit append.
    /// `node`: this node's name (several nodes on one PostgreSQL store each keep their own folder).
    func publishAuditHead(directory: String, node: String, master: MasterKey, logger: Logger) async throws -> AuditHead
    /// Releases the store at shutdown (SQLite checkpoints and closes; PostgreSQL's pool stops with its service).
    func shutdown() async throws
}

/// Every aggregate of the store.
typealias FaceIDStore = StoreLifecycle & FeedFollowing & TenancyRepository & PersonRepository & EmployeeRepository & FeedRepository & LogRepository
    & IndexModelRepository
    & IdempotencyRepository

extension Store: TenancyRepository, PersonRepository, EmployeeRepository, FeedRepository, LogRepository, FeedFollowing, StoreLifecycle,
    IdempotencyRepository {
    func shutdown() async throws { try close() }

    /// One process owns a SQLite store: its index's own watermark is the only one (`Retention` reads it directly).
    func reportIndexPositions(node: String, _ positions: [Int64: Int64], at: Date) async throws {}
    func lowestIndexPosition(companyID: Int64, reportedSince since: Date) async throws -> Int64? { nil }
}
