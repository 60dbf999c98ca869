import Crypto
import Foundation
import VectorIndex

/// The vector index: derived data, one VectorIndex collection per company in one LMDB environment
/// (`<data>/index`), fed from the store's change feed.
///
/// `catchUp` applies the company's feed after the collection's watermark, in order, each batch with
/// its last sequence number as the new watermark (one LMDB transaction). A crash between a store commit
/// and its index apply loses nothing: the next `catchUp` (every start runs one per company) replays it.
/// A deleted index folder is rebuilt from the store the same way.
final class IndexService: Sendable {
    let database: VectorDatabase
    private let store: Store
    private let keyRing: KeyRing
    /// Stored enrollment photos: a face's delete, once applied here, removes its photo too.
    let images: ImageVault
    private let feeder = Feeder()
    /// Collections start exact and become IVF-PQ (1024 lists, 64 sub-quantizers × 4 bits, exact re-ranking) at this size.
    static let trainingPolicy = TrainingPolicy(threshold: 50_000, kind: .ivfPQ(listCount: 1024, subquantizerCount: 64, bits: 4))
    static let batchSize = 2000
    /// Inverted lists scanned per search once a collection is IVF. On face1m (1 M vectors, IVF1024 trained on a 49 k
    /// sample, re-rank 200: `faceid-bench ann --index IVF1024,PQ64 --samples-per-list 48`) recall@1 against exact
    /// search is 0.977 at 32 probes, 0.990 at 48 and 0.993 at 64 (0.7 ms) — 64 keeps it above 0.99 with room.
    static let probeCount = 64

    init(directory: String, store: Store, keyRing: KeyRing, images: ImageVault) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Sparse: the map only reserves address space. The store can rebuild the index, so commits skip the meta fsync.
        database = try VectorDatabase(path: directory, sealer: keyRing.indexSealer(), mapSize: 1 << 38, durability: .noMetaSync)
        self.store = store
        self.keyRing = keyRing
        self.images = images
    }

    static func collectionName(_ companyID: Int64) -> String { "company-\(companyID)" }

    /// The company's collection, created on first use.
    func collection(_ companyID: Int64) throws -> VectorCollection {
        let name = Self.collectionName(companyID)
        do {
            return try database.collection(name)
        } catch .unknownCollection {
            do {
                return try database.createCollection(name, dimension: FaceEncoding.dimension, trainingPolicy: Self.trainingPolicy)
            } catch .collectionExists {
                return try database.collection(name)
            }
        }
    }

    /// Applies the company's feed up to its end. Safe to call concurrently: one catch-up per company at a time,
    /// and changes already covered by the watermark are skipped.
    func catchUp(_ companyID: Int64) async throws {
        try await feeder.catchUp(companyID, service: self)
    }

    /// Catches up every company with faces (at start).
    func catchUpAll() async throws {
        for (companyID, _) in try await store.companiesWithFaces() { try await catchUp(companyID) }
    }

    /// The `k` nearest faces of the company (face ids and distances), optionally only ids `allow` accepts.
    func search(_ companyID: Int64, encoding: [Float], k: Int, allow: (@Sendable (UInt64) -> Bool)? = nil) throws -> [SearchResult] {
        try collection(companyID).search(encoding, options: SearchOptions(k: k, probeCount: Self.probeCount, allow: allow))
    }

    fileprivate func applyNextBatch(_ companyID: Int64) async throws -> Bool {
        let collection = try collection(companyID)
        let changes = try await store.faceChanges(companyID: companyID, after: Int64(collection.watermark), limit: Self.batchSize)
        guard let last = changes.last else { return false }
        guard let wrappedKey = try await store.wrappedKey(companyID: companyID) else { return false }
        let sealer = try keyRing.sealer(companyID: companyID, wrappedKey: wrappedKey)
        var mutations: [Mutation] = []
        var deleted: [Int64] = []
        mutations.reserveCapacity(changes.count)
        for change in changes where change.seq > Int64(collection.watermark) {
            let id = UInt64(change.faceID)
            // An upsert whose face is gone was deleted later in the feed; removing it now keeps order.
            if change.operation == .upsert, let sealed = change.sealedEncoding,
               let encoding = FaceEncoding.floats(try sealer.open(sealed, recordID: "face:\(change.faceID)")) {
                mutations.append(.upsert(id: id, vector: encoding))
            } else {
                mutations.append(.removeIfPresent(id: id))
                if change.operation == .delete { deleted.append(change.faceID) }
            }
        }
        try collection.apply(mutations, watermark: UInt64(last.seq))
        for faceID in deleted { images.remove(companyID: companyID, faceID: faceID) }
        return changes.count == Self.batchSize
    }

    /// Serializes feed application per company: one catch-up at a time (an async lock, since an actor alone is
    /// reentrant across the store reads), so a batch read before a newer one was applied can never land after it.
    private actor Feeder {
        private var running = Set<Int64>()
        private var waiting: [Int64: [CheckedContinuation<Void, Never>]] = [:]

        func catchUp(_ companyID: Int64, service: IndexService) async throws {
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
            while try await service.applyNextBatch(companyID) {}
        }
    }
}

extension KeyRing {
    /// Seals the index's stored vectors with a key derived from the master key (HKDF-SHA256), bound to each record.
    func indexSealer() -> IndexSealer {
        IndexSealer(key: HKDF<SHA256>.deriveKey(
            inputKeyMaterial: master.key, info: Data("faceid.index.v1".utf8), outputByteCount: 32))
    }
}

/// AES-256-GCM for VectorIndex records; the context (collection, table, key) is the associated data.
struct IndexSealer: VectorSealer {
    let key: SymmetricKey

    func seal(_ plaintext: [UInt8], context: [UInt8]) throws -> [UInt8] {
        [UInt8](try AES.GCM.seal(plaintext, using: key, authenticating: context).combined!)
    }

    func open(_ sealed: [UInt8], context: [UInt8]) throws -> [UInt8] {
        [UInt8](try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: context))
    }
}
