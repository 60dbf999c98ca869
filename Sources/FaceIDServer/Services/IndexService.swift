import Crypto
import Foundation
import Logging
import Synchronization
import VectorIndex

/// The vector index: derived data, VectorIndex collections per company and model in one LMDB environment
/// (`<data>/index`), fed from the store's change feed.
///
/// Each company has one collection per `IndexSpace`: every face with a dlib embedding, every face with an SFace one, and
/// the faces that have *only* a dlib embedding — what a photo search in an SFace company must still find (kiosk-only
/// employees), searched with dlib.
///
/// `catchUp` applies the company's feed after the collection's watermark, in order, each batch with
/// its last sequence number as the new watermark (one LMDB transaction). A crash between a store commit
/// and its index apply loses nothing: the next `catchUp` (every start runs one per company) replays it.
/// A deleted index folder is rebuilt from the store the same way.
///
/// A damaged index (a file LMDB rejects, a truncated map, a record that does not decode or open, a watermark
/// ahead of the store) is never served and never crashes the server: the folder is moved aside to
/// `index.damaged-<UTC time>` (kept for inspection), a fresh one is created, and a background rebuild replays
/// every company's feed. Until it is done `isRebuilding` is true, `/readyz` answers 503 and searches answer
/// 503 `index_rebuilding`; writes still commit to the store (the rebuild, or the next catch-up, applies them).
/// The master key is checked against the store before the index is opened (`KeyRing.verify`), so records that
/// fail to open are damage, not a wrong key.
final class IndexService: Sendable {
    /// The `index` folder.
    let directory: String
    let store: any FeedRepository & FeedFollowing & PersonRepository & TenancyRepository & IndexModelRepository
    let keyRing: KeyRing
    /// Stored enrollment photos: a face's delete, once applied here, removes its photo too (files; PostgreSQL's go with
    /// their faces).
    let images: any PhotoRepository
    let logger: Logger
    /// This node's name in the store's record of where each node's index stands (`reportPositions`).
    let node: String
    private let feeder = Feeder()
    /// When this node last reported its positions.
    let lastReport = Mutex<ContinuousClock.Instant?>(nil)
    private let current: Mutex<Current>
    /// A collection becomes IVF-PQ once it holds this many faces (`index.trainAt`): one node trains its model and publishes
    /// it through the feed, and every node installs it (`IndexService+Models`).
    let trainingThreshold: Int
    /// Where IVF-PQ collections keep their vectors (`index.vectors`).
    let vectorResidence: VectorResidence
    /// The trainings this node runs or tried lately (`IndexService+Models`).
    let training = Mutex(Training())
    /// How often the follower looks at the feed without a wake-up (what another server node committed).
    static let followInterval = Duration.seconds(2)
    /// Collections start exact and become IVF-PQ (up to 1024 lists, 64 sub-quantizers × 4 bits, exact re-ranking) at this
    /// size, unless configured otherwise.
    static let defaultTrainingThreshold = 50_000
    static let batchSize = 2000
    /// Inverted lists scanned per search once a collection is IVF. On face1m (1 M vectors, IVF1024 trained on a 49 k
    /// sample, re-rank 200: `faceid-bench ann --index IVF1024,PQ64 --samples-per-list 48`) recall@1 against exact
    /// search is 0.977 at 32 probes, 0.990 at 48 and 0.993 at 64 (0.7 ms) — 64 keeps it above 0.99 with room.
    static let probeCount = 64

    /// The open environment and whether it is being rebuilt.
    private struct Current {
        var database: VectorDatabase
        var rebuilding: Bool
        var rebuild: Task<Void, Never>?
        /// Where damaged folders were moved, oldest first.
        var movedAside: [String] = []
    }

    /// Opens the index in `directory`; a damaged one is moved aside and replaced by an empty one that
    /// `start` (or `rebuild`) fills from the store.
    /// - Parameter checker: the `faceid-server` executable, to read the whole index in a child process
    ///   (`faceid-server --check-index <directory>`) before this process maps it: LMDB trusts its file, and a damaged
    ///   page can make it dereference a bad pointer, which no error handling catches. Nil: no check (tests).
    init(directory: String, store: any FeedRepository & FeedFollowing & PersonRepository & TenancyRepository & IndexModelRepository,
         keyRing: KeyRing, images: any PhotoRepository, logger: Logger = Logger(label: "faceid.index"), node: String = "local",
         trainingThreshold: Int = IndexService.defaultTrainingThreshold, vectorResidence: VectorResidence = .map,
         checker: String? = nil) throws {
        self.directory = directory
        self.trainingThreshold = trainingThreshold
        self.vectorResidence = vectorResidence
        self.node = node
        self.store = store
        self.keyRing = keyRing
        self.images = images
        self.logger = logger
        let (database, movedAside) = try Self.openOrMoveAside(directory, keyRing: keyRing, residence: vectorResidence,
                                                              logger: logger, checker: checker)
        current = Mutex(Current(database: database, rebuilding: movedAside != nil, movedAside: movedAside.map { [$0] } ?? []))
    }

    /// Opens the index; a damaged one is moved aside (returned) and an empty one opened in its place.
    private static func openOrMoveAside(_ directory: String, keyRing: KeyRing, residence: VectorResidence, logger: Logger,
                                        checker: String?) throws -> (VectorDatabase, String?) {
        if discardOtherSealing(directory) {
            logger.notice("the index was sealed under the master key, as before company keys: it is rebuilt from the store now")
        }
        do {
            if let checker { try IndexStructureCheck.inChildProcess(directory, executable: checker) }
            return (try open(directory, keyRing: keyRing, residence: residence), nil)
        } catch where error.isDamage {
            let aside = try moveAside(directory, error: error, logger: logger)
            return (try open(directory, keyRing: keyRing, residence: residence), aside)
        }
    }

    private static func open(_ directory: String, keyRing: KeyRing, residence: VectorResidence) throws(VectorIndexError) -> VectorDatabase {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .invalidArgument("cannot create \(directory)")
        }
        // Sparse: the map only reserves address space. The store can rebuild the index, so commits skip the meta fsync.
        let database = try VectorDatabase(path: directory, sealer: keyRing.indexSealer(), mapSize: 1 << 38, durability: .noMetaSync,
                                          ivfPQVectors: residence)
        if (try? String(contentsOfFile: directory + "/" + Self.sealingFile, encoding: .utf8)) != IndexSealer.format {
            try? IndexSealer.format.write(toFile: directory + "/" + Self.sealingFile, atomically: true, encoding: .utf8)
        }
        return database
    }

    /// Beside the LMDB files: how the index's records are sealed (`IndexSealer.format`).
    static let sealingFile = "sealing"

    /// Removes an index sealed otherwise than `IndexSealer.format` (no `sealing` file beside its data: the master-derived
    /// key of earlier versions); it is derived data, and the start rebuilds it. True when one was removed.
    static func discardOtherSealing(_ directory: String) -> Bool {
        let files = FileManager.default
        guard files.fileExists(atPath: directory + "/data.mdb"),
              (try? String(contentsOfFile: directory + "/" + sealingFile, encoding: .utf8)) != IndexSealer.format else { return false }
        for file in ["data.mdb", "lock.mdb"] { try? files.removeItem(atPath: directory + "/" + file) }
        return true
    }

    /// Renames the damaged folder to `<directory>.damaged-<UTC time>` and logs why; returns the new path.
    private static func moveAside(_ directory: String, error: VectorIndexError, logger: Logger) throws -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var target = directory + ".damaged-" + formatter.string(from: Date())
        var suffix = 1
        while FileManager.default.fileExists(atPath: target) {
            suffix += 1
            target = directory + ".damaged-" + formatter.string(from: Date()) + "-\(suffix)"
        }
        try FileManager.default.moveItem(atPath: directory, toPath: target)
        logger.error("the vector index is damaged; moved aside and rebuilding it from the store", metadata: [
            "reason": .string(error.description), "code": .string(error.code), "movedTo": .string(target),
        ])
        return target
    }

    /// The open environment (it changes when a damaged one is replaced).
    var database: VectorDatabase { current.withLock { $0.database } }
    /// Whether the index is being rebuilt from the store (searches answer 503 `index_rebuilding`).
    var isRebuilding: Bool { current.withLock { $0.rebuilding } }
    /// The folders damaged indexes were moved to since this service started.
    var movedAside: [String] { current.withLock { $0.movedAside } }

    /// How many entries of this node's index name one of `faceIDs`, over every collection of the company.
    func entries(_ companyID: Int64, faceIDs: [Int64]) throws -> Int {
        var count = 0
        for space in IndexSpace.allCases {
            let collection = try collection(companyID, space)
            count += faceIDs.filter { collection.contains(UInt64($0)) }.count
        }
        return count
    }

    /// Holds the company's index key (its data key, loaded once); false for a company that is gone or whose secret is destroyed.
    func prepareIndexKey(_ companyID: Int64) async throws -> Bool {
        // Every search catches up first: a key already held costs no store read.
        if keyRing.indexKey(companyID: companyID) != nil { return true }
        return try await keyRing.prepareIndexKey(companyID: companyID, wrappedKey: try await store.wrappedKey(companyID: companyID))
    }

    /// Drops every collection of a deleted company (also while the index is rebuilt); returns how many there were.
    func dropCompany(_ companyID: Int64) throws -> Int {
        try Self.dropCollections(in: current.withLock { $0.database }) { $0 == companyID }
    }

    /// Drops the collections of the `deleted` companies (another node deleted them); returns how many.
    func dropCollections(of deleted: Set<Int64>) throws -> Int {
        try Self.dropCollections(in: try servingDatabase(), of: deleted.contains)
    }

    /// Drops the collections of every company `dropping` picks; returns how many.
    private static func dropCollections(in database: VectorDatabase, of dropping: (Int64) -> Bool) throws -> Int {
        var dropped = 0
        for name in try database.collectionNames() {
            guard let companyID = IndexSpace.companyID(ofCollection: name), dropping(companyID) else { continue }
            try database.dropCollection(name)
            dropped += 1
        }
        return dropped
    }

    /// The company's collection of `space`, created on first use.
    /// - Throws: `ServiceError.indexRebuilding` while the index is rebuilt (also when this call finds it damaged).
    func collection(_ companyID: Int64, _ space: IndexSpace = .all(.dlib)) throws -> VectorCollection {
        let database = try servingDatabase()
        return try guarded(database) { try Self.collection(companyID, space, in: database) }
    }

    static func collection(_ companyID: Int64, _ space: IndexSpace, in database: VectorDatabase) throws(VectorIndexError) -> VectorCollection {
        let name = space.collectionName(companyID)
        let collection: VectorCollection
        do {
            collection = try database.collection(name)
        } catch .unknownCollection {
            do {
                // No training policy: a collection never trains itself; it installs the model one node publishes.
                collection = try database.createCollection(name, dimension: FaceEncoding.dimension)
            } catch .collectionExists {
                collection = try database.collection(name)
            }
        }
        guard collection.dimension == FaceEncoding.dimension else {
            throw .corrupt("collection \(name) has dimension \(collection.dimension)")
        }
        return collection
    }

    /// Applies the company's feed up to its end. Safe to call concurrently: one catch-up per company at a time,
    /// and changes already covered by the watermark are skipped. While the index is rebuilt it returns at once:
    /// the rebuild applies the whole feed, and every search catches up first once it is done.
    func catchUp(_ companyID: Int64) async throws {
        let (database, rebuilding) = current.withLock { ($0.database, $0.rebuilding) }
        if rebuilding { return }
        do {
            try await feeder.catchUp(companyID, service: self, database: database)
        } catch let error as VectorIndexError where error.isDamage {
            recover(from: error, in: database)
            throw ServiceError.indexRebuilding
        }
    }

    /// Catches up every company with faces, waiting until it is done (tests, and `start`).
    func catchUpAll() async throws {
        try await replayAll(into: database)
    }

    /// At start: catches up every company before the server listens, as today; a damage found on the way (or when
    /// the index was opened) moves it aside and rebuilds it in the background while the server answers
    /// (`isRebuilding`).
    func start() async throws {
        let (database, rebuilding) = current.withLock { ($0.database, $0.rebuilding) }
        if !rebuilding {
            do {
                try await replayAll(into: database)
                return
            } catch let error as VectorIndexError where error.isDamage {
                recover(from: error, in: database)
                return
            }
        }
        startRebuild()
    }

    /// Stops a running rebuild (at shutdown, before the store closes); the next start rebuilds what is missing.
    func shutdown() async {
        let rebuild = current.withLock { current -> Task<Void, Never>? in
            current.rebuild?.cancel()
            return current.rebuild
        }
        await rebuild?.value
        await stopTraining()
    }

    /// Waits for a running rebuild (tests).
    func waitForRebuild() async {
        await current.withLock { $0.rebuild }?.value
    }

    /// The lowest watermark of the company's collections: the feed's retention may drop rows up to it, never past it
    /// (0 while the index is rebuilt).
    func lowWatermark(_ companyID: Int64) -> Int64 {
        guard let database = try? servingDatabase() else { return 0 }
        return IndexSpace.allCases.map { space in
            (try? Self.collection(companyID, space, in: database)).map { Int64($0.watermark) } ?? 0
        }.min() ?? 0
    }

    /// The `k` nearest faces of the company (face ids and distances), optionally only ids `allow` accepts.
    /// - Throws: `ServiceError.indexRebuilding` while the index is rebuilt: a partial index must not answer "no match".
    func search(_ companyID: Int64, _ space: IndexSpace = .all(.dlib), encoding: [Float], k: Int,
                allow: (@Sendable (UInt64) -> Bool)? = nil) throws -> [SearchResult] {
        let database = try servingDatabase()
        return try guarded(database) {
            try Self.collection(companyID, space, in: database)
                .search(encoding, options: SearchOptions(k: k, probeCount: Self.probeCount, allow: allow))
        }
    }

    private func servingDatabase() throws(ServiceError) -> VectorDatabase {
        let (database, rebuilding) = current.withLock { ($0.database, $0.rebuilding) }
        if rebuilding { throw .indexRebuilding }
        return database
    }

    /// Runs `body`; a damage error starts the recovery and becomes `ServiceError.indexRebuilding`.
    private func guarded<R>(_ database: VectorDatabase, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as VectorIndexError where error.isDamage {
            recover(from: error, in: database)
            throw ServiceError.indexRebuilding
        }
    }

    // MARK: - Recovery

    /// Moves the damaged `database` aside, opens an empty index in its place and rebuilds it in the background.
    /// Does nothing when `database` was already replaced (another caller found the same damage).
    func recover(from error: VectorIndexError, in database: VectorDatabase) {
        let replaced = current.withLock { current -> Bool in
            guard current.database === database else { return false }
            do {
                // The old environment stays open for whoever still holds it; on POSIX the rename does not disturb it.
                current.movedAside.append(try Self.moveAside(directory, error: error, logger: logger))
                current.database = try Self.open(directory, keyRing: keyRing, residence: vectorResidence)
            } catch {
                logger.critical("the damaged vector index cannot be replaced; searches stay unavailable",
                                metadata: ["reason": .string(String(describing: error))])
            }
            current.rebuilding = true
            return true
        }
        if replaced { startRebuild() }
    }

    private func startRebuild() {
        current.withLock { current in
            let previous = current.rebuild
            current.rebuild = Task { [self] in
                await previous?.value
                await rebuild()
            }
        }
    }

    /// Replays every company's feed into the current (fresh) index; retries store errors, moves a damaged one
    /// aside again, and clears `isRebuilding` when the replay reached the end of the feed.
    private func rebuild() async {
        let started = ContinuousClock.now
        var delay = Duration.seconds(1)
        while !Task.isCancelled {
            let database = self.database
            do {
                try await replayAll(into: database)
                let done = current.withLock { current -> Bool in
                    guard current.database === database else { return false }
                    current.rebuilding = false
                    return true
                }
                guard done else { continue }
                let faces = (try? database.collectionNames().reduce(0) { total, name in
                    total + ((try? database.collection(name).count) ?? 0)
                }) ?? 0
                logger.notice("the vector index was rebuilt from the store", metadata: [
                    "vectors": .stringConvertible(faces), "seconds": .string("\(ContinuousClock.now - started)"),
                ])
                return
            } catch is CancellationError {
                return
            } catch let error as VectorIndexError where error.isDamage {
                let replaced = current.withLock { current -> Bool in
                    guard current.database === database else { return false }
                    do {
                        current.movedAside.append(try Self.moveAside(directory, error: error, logger: logger))
                        current.database = try Self.open(directory, keyRing: keyRing, residence: vectorResidence)
                        return true
                    } catch {
                        return false
                    }
                }
                if !replaced { try? await Task.sleep(for: delay) }
            } catch {
                logger.error("the vector index rebuild failed; retrying", metadata: [
                    "reason": .string(String(describing: error)), "retryIn": .string("\(delay)"),
                ])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(60))
            }
        }
    }

    /// Catches up every company with faces in `database`. A watermark ahead of the store's feed means the index
    /// saw changes the store never committed (a damaged watermark, or a store restored from a backup): damage.
    private func replayAll(into database: VectorDatabase) async throws {
        for (companyID, _) in try await store.companiesWithFaces() {
            try Task.checkCancellation()
            // A company whose secret is destroyed (deleted; its rows came back with an older store): nothing of it opens, so
            // its collections (an older index copy's) go, and none is made.
            guard try await prepareIndexKey(companyID) else {
                _ = try Self.dropCollections(in: database) { $0 == companyID }
                continue
            }
            let head = try await store.feedPosition(companyID: companyID)
            for space in IndexSpace.allCases {
                let collection = try Self.collection(companyID, space, in: database)
                // Collections made before models were published trained themselves; from now on they install the published one.
                if collection.trainingPolicy != nil { try collection.setTrainingPolicy(nil) }
                let watermark = collection.watermark
                guard watermark <= UInt64(max(head, 0)) else {
                    throw VectorIndexError.corrupt("the watermark of \(space.collectionName(companyID)) is \(watermark), ahead of the store's \(head)")
                }
            }
            try await feeder.catchUp(companyID, service: self, database: database)
        }
    }

    /// Reads the feed after the lowest watermark of the company's collections and applies each change to every
    /// collection that has not seen it (one LMDB transaction per collection, each with its own watermark). Collections
    /// the feed's retention has passed (a new or rebuilt index) load the current faces first (`loadSnapshot`).
    fileprivate func applyNextBatch(_ companyID: Int64, database: VectorDatabase) async throws -> Bool {
        var collections = try IndexSpace.allCases.map { space in (space, try Self.collection(companyID, space, in: database)) }
        let purged = try await store.purgedThrough(companyID: companyID)
        let behind = collections.filter { Int64($0.1.watermark) < purged }
        if !behind.isEmpty {
            try await loadSnapshot(companyID, spaces: behind.map(\.0), database: database)
            collections = try IndexSpace.allCases.map { space in (space, try Self.collection(companyID, space, in: database)) }
        }
        let low = collections.map { $0.1.watermark }.min() ?? 0
        let (fetched, position) = try await store.faceChanges(companyID: companyID, after: Int64(low), limit: Self.batchSize)
        // A published model ends the batch: the faces before it are applied, then it is installed with its own sequence number
        // as the watermark, so every copy at that watermark holds the same faces under the same model.
        let modelAt = fetched.firstIndex { $0.operation == .model }
        let changes = modelAt.map { Array(fetched[..<$0]) } ?? fetched
        let model = modelAt.map { fetched[$0] }
        // A short batch saw every face row up to `position`: the rows after its last are other changes (employees'
        // records), so the collections stand at `position` — which lets the feed's retention pass them.
        let end = model?.seq ?? (fetched.count < Self.batchSize ? position : fetched.last!.seq)
        guard end > Int64(low) else { return false }
        let opened = try await openVectors(changes, companyID: companyID)
        var installing: (space: IndexSpace, model: TrainedModel)?
        if let model { installing = try await openModel(model, companyID: companyID) }
        for (space, collection) in collections {
            let watermark = Int64(collection.watermark)
            guard end > watermark else { continue }
            var mutations: [Mutation] = []
            mutations.reserveCapacity(changes.count)
            for (change, vectors) in zip(changes, opened) where change.seq > watermark {
                let id = UInt64(change.faceID)
                if let vector = space.vector(from: vectors) {
                    mutations.append(.upsert(id: id, vector: vector))
                } else {
                    mutations.append(.removeIfPresent(id: id))
                }
            }
            if let installing, installing.space == space {
                if !mutations.isEmpty { try collection.apply(mutations) }
                try await install(installing.model, into: collection, space: space, companyID: companyID, watermark: end)
            } else {
                try collection.apply(mutations, watermark: UInt64(end))
            }
        }
        if images.fileVault != nil {
            try await images.removePhotos(companyID: companyID, faceIDs: changes.filter { $0.operation == .delete }.map(\.faceID))
        }
        return model != nil || fetched.count == Self.batchSize
    }

    /// Serializes feed application per company: one catch-up at a time (an async lock, since an actor alone is
    /// reentrant across the store reads), so a batch read before a newer one was applied can never land after it.
    private actor Feeder {
        private var running = Set<Int64>()
        private var waiting: [Int64: [CheckedContinuation<Void, Never>]] = [:]

        func catchUp(_ companyID: Int64, service: IndexService, database: VectorDatabase) async throws {
            while running.contains(companyID) {
                await withCheckedContinuation { waiting[companyID, default: []].append($0) }
            }
            running.insert(companyID)
            defer {
                running.remove(companyID)
                if var queue = waiting[companyID], !queue.isEmpty {
                    queue.removeFirst().resume()
                    waiting[companyID] = queue.isEmpty ? nil : queue
                }
            }
            // A company deleted (or shredded) meanwhile: no key, and nothing of it is made again.
            guard try await service.prepareIndexKey(companyID) else { return }
            while try await service.applyNextBatch(companyID, database: database) {}
            service.trainWhereNeeded(companyID, database: database)
        }
    }
}
