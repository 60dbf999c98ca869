import Foundation
import Logging
import VectorIndex

/// "No node trains alone": a collection that reaches `trainingThreshold` faces becomes IVF-PQ with a model one node trains
/// and publishes through the company's feed (`IndexModelRepository`). Every node — the trainer too — installs it when its
/// index reaches the `model` row (`applyNextBatch`), or before loading a snapshot, so copies at one watermark hold one model
/// and answer every search alike (VectorIndex orders ties by id, so slot order does not matter either). A rebuilt index
/// installs the published model instead of training another.
extension IndexService {
    /// The trainings this node runs, the spaces known to have a published model, and when a claim held by another node may be
    /// tried again.
    struct Training: Sendable {
        var running: [String: Task<Void, Never>] = [:]
        var published: Set<String> = []
        var retryAt: [String: ContinuousClock.Instant] = [:]
        var stopped = false
    }

    /// How long a claim lasts: a node that dies while training holds it no longer (training 50,000 faces takes seconds).
    static let claimLifetime: TimeInterval = 300
    /// How long a node waits before claiming again after another node held the claim or an attempt failed.
    static let claimRetry = Duration.seconds(30)

    /// The model a collection of `count` faces gets: IVF-PQ with 64 sub-quantizers of 4 bits and as many lists as FAISS's
    /// guidance allows (at least 39 training points per list), a power of two from 16 to 1024 — 1024 at the default
    /// threshold of 50,000.
    static func modelKind(forCount count: Int) -> IndexKind {
        var lists = 16
        while lists * 2 <= min(1024, count / 39) { lists *= 2 }
        return .ivfPQ(listCount: lists, subquantizerCount: 64, bits: 4)
    }

    private static func trainingKey(_ companyID: Int64, _ space: IndexSpace) -> String { "\(companyID)/\(space.label)" }

    /// After a catch-up: starts a training for each of the company's collections past the threshold that has no published
    /// model yet (as far as this node knows; the claim asks the store). Returns at once; the training runs in the background.
    func trainWhereNeeded(_ companyID: Int64, database: VectorDatabase) {
        let now = ContinuousClock.now
        for space in IndexSpace.allCases {
            guard let collection = try? Self.collection(companyID, space, in: database), collection.count >= trainingThreshold else {
                continue
            }
            let key = Self.trainingKey(companyID, space)
            training.withLock { training in
                guard !training.stopped, training.running[key] == nil, !training.published.contains(key),
                      training.retryAt[key].map({ now >= $0 }) ?? true else { return }
                training.running[key] = Task { [self] in
                    await trainAndPublish(companyID, space: space, collection: collection, key: key)
                }
            }
        }
    }

    /// Claims the training, trains on this node's copy (off the cooperative pool, one BLAS thread), seals the model with the
    /// company key and publishes it; then catches up, which installs it here as on every other node.
    private func trainAndPublish(_ companyID: Int64, space: IndexSpace, collection: VectorCollection, key: String) async {
        defer { _ = training.withLock { $0.running.removeValue(forKey: key) } }
        do {
            let now = Date()
            switch try await store.claimModelTraining(companyID: companyID, space: space.label, node: node, now: now,
                                                      until: now.addingTimeInterval(Self.claimLifetime)) {
            case .published:
                _ = training.withLock { $0.published.insert(key) }
                return
            case .heldElsewhere:
                training.withLock { $0.retryAt[key] = .now + Self.claimRetry }
                return
            case .claimed:
                break
            }
            let kind = Self.modelKind(forCount: collection.count)
            let started = ContinuousClock.now
            let model = try await Self.offCooperativePool {
                try collection.trainModel(kind: kind, parameters: TrainingParameters(threads: 1))
            }
            try Task.checkCancellation()
            guard let wrappedKey = try await store.wrappedKey(companyID: companyID) else { return }
            let sealed = try await keyRing.loadSealer(companyID: companyID, wrappedKey: wrappedKey)
                .seal(Data(model.serialized()), recordID: Store.PublishedModel.recordID(space: space.label))
            let seq = try await store.publishIndexModel(companyID: companyID, space: space.label, sealed: sealed, node: node, at: Date())
            logger.notice("trained and published an index model", metadata: [
                "company_id": "\(companyID)", "space": .string(space.label), "kind": .string(kind.description),
                "vectors": "\(collection.count)", "seconds": .string("\(ContinuousClock.now - started)"),
                "seq": .string(seq.map(String.init) ?? "none: another node published first"),
            ])
            try await catchUp(companyID)
        } catch is CancellationError {
            // Shutting down: the claim expires and a node trains it later.
        } catch {
            training.withLock { $0.retryAt[key] = .now + Self.claimRetry }
            logger.warning("training the index model failed; it is tried again later", metadata: [
                "company_id": "\(companyID)", "space": .string(space.label), "error": .string(String(describing: error)),
            ])
        }
    }

    /// Cancels the trainings and waits for them (shutdown).
    func stopTraining() async {
        let running = training.withLock { training -> [Task<Void, Never>] in
            training.stopped = true
            return Array(training.running.values)
        }
        for task in running {
            task.cancel()
            await task.value
        }
    }

    /// The model a `model` row of the feed carries, opened; nil (logged) when it names no collection or does not open, which
    /// is damage in the store: the collection stays as it is (exact when flat) and the feed goes on.
    func openModel(_ change: Store.FaceChange, companyID: Int64) async throws -> (space: IndexSpace, model: TrainedModel)? {
        guard let published = change.model, let space = IndexSpace(label: published.space) else {
            logger.error("a model row of the feed names no published model; skipped", metadata: [
                "company_id": "\(companyID)", "seq": "\(change.seq)",
            ])
            return nil
        }
        return try await openPublished(published, companyID: companyID).map { (space, $0) }
    }

    private func openPublished(_ published: Store.PublishedModel, companyID: Int64) async throws -> TrainedModel? {
        guard let wrappedKey = try await store.wrappedKey(companyID: companyID) else { return nil }
        let sealer = try await keyRing.loadSealer(companyID: companyID, wrappedKey: wrappedKey)
        do {
            let data = try sealer.open(published.sealed, recordID: Store.PublishedModel.recordID(space: published.space))
            let model = try TrainedModel(serialized: [UInt8](data))
            guard model.dimension == FaceEncoding.dimension else { throw VectorIndexError.corrupt("model dimension \(model.dimension)") }
            return model
        } catch {
            logger.error("a published index model does not open; the collection keeps its index", metadata: [
                "company_id": "\(companyID)", "space": .string(published.space), "seq": "\(published.seq)",
            ])
            return nil
        }
    }

    /// Installs `model` into `collection` (every vector assigned and encoded; one LMDB transaction with `watermark`), off the
    /// cooperative pool: at a million faces (a collection that trained itself before models were published) it takes seconds.
    func install(_ model: TrainedModel, into collection: VectorCollection, space: IndexSpace, companyID: Int64,
                 watermark: Int64?) async throws {
        let started = ContinuousClock.now
        try await Self.offCooperativePool {
            try collection.install(model, watermark: watermark.map { UInt64($0) }, threads: ProcessInfo.processInfo.activeProcessorCount)
        }
        _ = training.withLock { $0.published.insert(Self.trainingKey(companyID, space)) }
        logger.notice("installed the published index model", metadata: [
            "company_id": "\(companyID)", "space": .string(space.label), "kind": .string(model.kind.description),
            "model": .string(IndexController.hex(model.fingerprint)), "vectors": "\(collection.count)",
            "seconds": .string("\(ContinuousClock.now - started)"),
        ])
    }

    /// A snapshot load (`loadSnapshot`) starts from the published models: installed into the emptied collections first, so
    /// the faces loaded after them are assigned with them. Every model read here was committed before the snapshot's first
    /// page, so its feed row is at or below the snapshot's position and is not replayed.
    func installPublishedModels(_ companyID: Int64, into collections: [(IndexSpace, VectorCollection)]) async throws {
        let published = try await store.indexModels(companyID: companyID)
        for (space, collection) in collections {
            guard let entry = published.last(where: { $0.space == space.label }),
                  let model = try await openPublished(entry, companyID: companyID) else { continue }
            try await install(model, into: collection, space: space, companyID: companyID, watermark: nil)
        }
    }

    /// Runs CPU-bound `body` on a dispatch queue, leaving the cooperative pool (two threads here) to the requests.
    private static func offCooperativePool<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .utility).async { continuation.resume(with: Result { try body() }) }
        }
    }
}

extension IndexSpace {
    /// The space a `label` names.
    init?(label: String) {
        guard let space = IndexSpace.allCases.first(where: { $0.label == label }) else { return nil }
        self = space
    }
}
