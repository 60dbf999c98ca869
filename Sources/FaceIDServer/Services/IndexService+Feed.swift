import Foundation
import Logging
import ServiceLifecycle
import VectorIndex

/// How the index reads the feed: the vectors of a batch, the snapshot a purged feed needs, and the follower.
extension IndexService {
    /// The feed's rows before these collections' watermarks were purged: each is emptied, loads the company's current faces,
    /// and takes as its watermark where the feed stood when the first of them was read — the feed replays what changed
    /// since (upserts and removals are idempotent). Interrupted, it starts over: the collection is emptied again.
    func loadSnapshot(_ companyID: Int64, spaces: [IndexSpace], database: VectorDatabase) async throws {
        for space in spaces where try Self.collection(companyID, space, in: database).count > 0 {
            try database.dropCollection(space.collectionName(companyID))
        }
        let collections = try spaces.map { space in (space, try Self.collection(companyID, space, in: database)) }
        try await installPublishedModels(companyID, into: collections)
        let position = try await forEachCurrentPage(companyID) { faces, opened, position, last in
            for (space, collection) in collections {
                let mutations = zip(faces, opened).compactMap { face, vectors in
                    space.vector(from: vectors).map { Mutation.upsert(id: UInt64(face.faceID), vector: $0) }
                }
                try collection.apply(mutations, watermark: last ? UInt64(position) : nil)
            }
        }
        logger.notice("the index loaded the current faces (the feed was purged past it)", metadata: [
            "company_id": "\(companyID)", "position": "\(position)",
        ])
    }

    /// The company's current faces, page by page in face id order with their vectors opened: `body` gets each page, where the
    /// feed stood when the first page was read, and whether it is the last. Returns that position.
    @discardableResult
    func forEachCurrentPage(_ companyID: Int64, _ body: ([Store.FaceChange], [[RecognitionModel: [Float]]], Int64, Bool) throws -> Void)
        async throws -> Int64 {
        var afterFaceID: Int64 = 0
        var position: Int64?
        while true {
            let (faces, at) = try await store.faceSnapshot(companyID: companyID, afterFaceID: afterFaceID, limit: Self.batchSize)
            if position == nil { position = at }
            let last = faces.count < Self.batchSize
            try body(faces, try await openVectors(faces, companyID: companyID), position!, last)
            guard !last, let final = faces.last else { return position! }
            afterFaceID = final.faceID
        }
    }

    /// Each upsert's vectors per model, opened once (empty for a delete, or an upsert whose face is gone — it was deleted
    /// later in the feed, so it is removed now, which keeps order). A stored embedding that does not open is damage in the
    /// store, not in the index: the face is quarantined and left out, and the feed goes on.
    func openVectors(_ changes: [Store.FaceChange], companyID: Int64) async throws -> [[RecognitionModel: [Float]]] {
        guard changes.contains(where: { !$0.embeddings.isEmpty }) else { return changes.map { _ in [:] } }
        // A company gone, or one whose secret is destroyed (deleted, and its rows came back with an older store): nothing of
        // it opens, and none of its faces is damage.
        guard let wrappedKey = try await store.wrappedKey(companyID: companyID),
              try await !keyRing.isShredded(companyID: companyID, wrappedKey: wrappedKey) else { return changes.map { _ in [:] } }
        let sealer = try await keyRing.loadSealer(companyID: companyID, wrappedKey: wrappedKey)
        var opened: [[RecognitionModel: [Float]]] = []
        opened.reserveCapacity(changes.count)
        for change in changes {
            var vectors: [RecognitionModel: [Float]] = [:]
            for embedding in change.embeddings where change.operation == .upsert {
                if let data = try? sealer.open(embedding.sealed, recordID: embedding.recordID), let vector = FaceEncoding.floats(data) {
                    vectors[embedding.model] = vector
                } else {
                    try await Quarantine(store: store, logger: logger).setAside(
                        faceID: change.faceID, companyID: companyID, reason: "the sealed \(embedding.model.rawValue) embedding does not open")
                    vectors = [:]
                    break
                }
            }
            opened.append(vectors)
        }
        return opened
    }
}

/// The index as a ServiceLifecycle service: it follows the committed feed. Each commit that appends to the feed wakes it
/// (the store's commit observer), and it looks again every `followInterval` for what it was not told of (another
/// node's writes, once the store is shared); every company with new rows is caught up. Writes do not wait for it: each
/// one catches its company up before it answers (read-your-writes).
extension IndexService: Service {
    func run() async throws {
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        store.onFeedCommit { wake.yield() }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.followInterval)
                wake.yield()
            }
        }
        defer { ticker.cancel() }
        await cancelWhenGracefulShutdown {
            for await _ in wakeups {
                await self.follow()
            }
        }
    }

    /// How often a node tells the store where its index stands, and how long a report keeps the feed's rows for it.
    static let reportInterval = Duration.seconds(10)
    static let reportLifetime: TimeInterval = 600

    /// Catches up every company whose feed head is past the index's position, then (every `reportInterval`) records this
    /// node's positions in the store.
    func follow() async {
        guard !isRebuilding else { return }
        do {
            let heads = try await store.feedHeads()
            for (companyID, head) in heads where head > lowWatermark(companyID) {
                try await catchUp(companyID)
            }
            let now = ContinuousClock.now
            let due = lastReport.withLock { last in
                guard last.map({ now - $0 >= Self.reportInterval }) ?? true else { return false }
                last = now
                return true
            }
            if due, !isRebuilding {
                let positions = Dictionary(uniqueKeysWithValues: heads.keys.map { ($0, lowWatermark($0)) })
                try await store.reportIndexPositions(node: node, positions, at: Date())
                // A company another node deleted: its collections go here too (the deleting node dropped its own).
                let dropped = try dropCollections(of: Set(try await store.deletedCompanies().filter { $0.completedAt != nil }.map(\.id)))
                if dropped > 0 { logger.notice("dropped the index collections of deleted companies", metadata: ["collections": "\(dropped)"]) }
            }
        } catch is CancellationError {
            // Shutting down: the next start catches every company up.
        } catch {
            logger.warning("the index follower will retry", metadata: ["error": .string(String(describing: type(of: error)))])
        }
    }
}
