import Foundation
import Synchronization

/// One collection of vectors with 64-bit ids: its in-memory index and its LMDB persistence.
///
/// Threading: any number of concurrent searches alongside one writer. Mutations and training
/// are serialised by `writer` (concurrent `apply` calls are committed together: group commit); each commits to LMDB first and only then changes the in-memory
/// index under the write side of `stateLock`, which searches hold for reading. Training builds
/// the new index while searches keep answering from the old one.
public final class VectorCollection: @unchecked Sendable {
    // @unchecked Sendable: `state`, `policy`, `currentWatermark` and `dropped` are read and written
    // only under `writer` and/or `stateLock` as described above; `pending` and `committing` under `groupCondition`.
    public let name: String
    public let dimension: Int
    let environment: LMDBEnvironment
    let storage: CollectionStorage
    let catalog: Catalog
    let writer = NSLock()
    /// Guards `pending` and `committing`; signalled when a group commit ends (`apply`).
    let groupCondition = NSCondition()
    /// Batches waiting for the next group commit.
    var pending: [PendingBatch] = []
    /// Whether a caller is committing a group.
    var committing = false
    /// How many group commits `apply` has made (tests: fewer than the calls when callers overlap).
    let groupCommits = Atomic<Int>(0)
    let stateLock = ReadWriteLock()
    let state: IndexState
    var policy: TrainingPolicy?
    var currentWatermark: UInt64
    /// Counts model changes (`rebuild`), so a list assignment computed before one is not used after it. Changed under
    /// both `writer` and the write side of `stateLock`.
    var modelGeneration = 0
    var dropped = false
    /// Where an IVF-PQ index keeps its vectors (the database's setting).
    let residence: VectorResidence
    /// How many records the open that loaded this collection read one by one (0 when it read the list blocks).
    var recordsReadAtOpen = 0
    /// Whether that open found the list blocks missing or not matching the records (the database then rewrites them).
    var listBlocksStale = false

    init(name: String, configuration: Catalog.Entry, environment: LMDBEnvironment, storage: CollectionStorage,
         catalog: Catalog, state: IndexState, watermark: UInt64, residence: VectorResidence) {
        self.residence = residence
        self.name = name
        self.dimension = configuration.dimension
        self.environment = environment
        self.storage = storage
        self.catalog = catalog
        self.state = state
        self.policy = configuration.trainingPolicy
        self.currentWatermark = watermark
    }

    /// The number of vectors.
    public var count: Int { stateLock.withReadLock { state.count } }
    /// The current index kind.
    public var kind: IndexKind { stateLock.withReadLock { state.kind } }
    /// The caller-owned watermark stored with the last mutation batch.
    public var watermark: UInt64 { stateLock.withReadLock { currentWatermark } }
    /// The training policy, if any.
    public var trainingPolicy: TrainingPolicy? { writer.withLock { policy } }

    /// Whether `id` is in the collection.
    public func contains(_ id: UInt64) -> Bool { stateLock.withReadLock { state.slotOf[id] != nil } }

    /// A copy of the vector stored for `id` (from memory, or read from the map).
    /// - Throws: `corrupt` or `sealing` when its record cannot be read.
    public func vector(for id: UInt64) throws(VectorIndexError) -> [Float]? {
        try stateLock.withReadLock { () throws(VectorIndexError) -> [Float]? in
            if state.keepsVectors { return state.vector(for: id) }
            guard state.slotOf[id] != nil else { return nil }
            var out = [Float](repeating: 0, count: dimension)
            let found = try environment.read { (txn) throws(VectorIndexError) -> Bool in
                try out.withUnsafeMutableBufferPointer { (o) throws(VectorIndexError) -> Bool in
                    try storage.readVector(txn, id: id, dimension: dimension, subquantizerCount: state.subquantizerCount,
                                           into: o.baseAddress!)
                }
            }
            return found ? out : nil
        }
    }

    /// Whether an index of `kind` keeps its vectors in memory in this collection.
    func keepsVectors(_ kind: IndexKind) -> Bool {
        if case .ivfPQ = kind { return residence == .memory }
        return true
    }

    /// What the collection holds, read together: its watermark, its size and the order-independent digest of every
    /// (id, vector) — equal on two copies exactly when they hold the same vectors under the same ids (up to a 64-bit
    /// hash collision). Kept current by every mutation; O(1).
    public var contents: (watermark: UInt64, count: Int, digest: UInt64) {
        stateLock.withReadLock { (currentWatermark, state.count, state.digest) }
    }

    /// The digest `contents` would have for these (id, vector) pairs (a store's copy, to compare).
    public static func digest(of entries: some Sequence<(UInt64, [Float])>) -> UInt64 {
        var digest: UInt64 = 0
        for (id, vector) in entries {
            digest &+= vector.withUnsafeBytes { IndexState.entryDigest(id: id, vector: $0) }
        }
        return digest
    }

    /// The k nearest neighbours of `query`, nearest first.
    /// - Throws: `dimensionMismatch`, `nonFiniteComponent`, `invalidArgument` for k < 1.
    public func search(_ query: [Float], options: SearchOptions = SearchOptions()) throws(VectorIndexError) -> [SearchResult] {
        try validateQuery(query, options)
        return try stateLock.withReadLock { () throws(VectorIndexError) -> [SearchResult] in
            try query.withUnsafeBufferPointer { (q) throws(VectorIndexError) -> [SearchResult] in
                try searchLocked(q.baseAddress!, options: options)
            }
        }
    }

    /// One search under the read lock: from memory, or with the vectors it needs read from the map in one read
    /// transaction (which sees at least what the in-memory state holds: commits reach LMDB before the state).
    private func searchLocked(_ query: UnsafePointer<Float>, options: SearchOptions) throws(VectorIndexError) -> [SearchResult] {
        if state.keepsVectors { return state.search(query, options: options) }
        if options.exact || state.lists.isEmpty { return try scanMap(query, options: options) }
        let d = dimension, m = state.subquantizerCount
        return try environment.read { (txn) throws(VectorIndexError) -> [SearchResult] in
            var failure: VectorIndexError?
            let results = state.search(query, options: options) { id, out in
                guard failure == nil else { return false }
                do throws(VectorIndexError) {
                    return try storage.readVector(txn, id: id, dimension: d, subquantizerCount: m, into: out)
                } catch {
                    failure = error
                    return false
                }
            }
            if let failure { throw failure }
            return results
        }
    }

    /// Exact search over the vectors in the map (an IVF-PQ collection that keeps none in memory), one record after
    /// another in key order. Entries not (yet) in the in-memory state are skipped, so it answers what a probed search would.
    /// - Complexity: O(count × dimension), plus opening every record when sealed.
    private func scanMap(_ query: UnsafePointer<Float>, options: SearchOptions) throws(VectorIndexError) -> [SearchResult] {
        let k = min(options.k, state.count)
        guard k > 0 else { return [] }
        var top = TopK(capacity: k)
        let d = dimension
        try environment.read { (txn) throws(VectorIndexError) in
            try withUnsafeTemporaryAllocation(of: Float.self, capacity: d) { (v) throws(VectorIndexError) in
                try storage.forEachRecord(txn, dimension: d, subquantizerCount: state.subquantizerCount) { (id, _, _, vector) throws(VectorIndexError) in
                    guard state.slotOf[id] != nil, options.allow?(id) ?? true else { return }
                    UnsafeMutableRawPointer(v.baseAddress!).copyMemory(from: vector.baseAddress!, byteCount: d * 4)
                    top.insert(Distance.squaredL2(query, v.baseAddress!, dimension: d), Int64(bitPattern: id))
                }
            }
        }
        return top.sorted().map { SearchResult(id: UInt64(bitPattern: $0.label), distance: $0.distance.squareRoot()) }
    }

    /// Searches many queries, `threads` at a time.
    public func search(batch queries: [[Float]], options: SearchOptions = SearchOptions(),
                       threads: Int = 1) throws(VectorIndexError) -> [[SearchResult]] {
        for q in queries { try validateQuery(q, options) }
        var single = options
        single.threads = 1
        let results = UnsafeMutableBufferPointer<[SearchResult]>.allocate(capacity: queries.count)
        results.initialize(repeating: [])
        defer { _ = results.deinitialize(); results.deallocate() }
        nonisolated(unsafe) let out = results
        let opts = single
        let failure = Mutex<VectorIndexError?>(nil)
        stateLock.withReadLock {
            DispatchQueue.concurrentPerform(iterations: max(1, min(threads, queries.count))) { worker in
                var i = worker
                while i < queries.count {
                    do throws(VectorIndexError) {
                        out[i] = try queries[i].withUnsafeBufferPointer { (q) throws(VectorIndexError) -> [SearchResult] in
                            try self.searchLocked(q.baseAddress!, options: opts)
                        }
                    } catch {
                        failure.withLock { $0 = $0 ?? error }
                    }
                    i += max(1, min(threads, queries.count))
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return Array(results)
    }

    private func validateQuery(_ query: [Float], _ options: SearchOptions) throws(VectorIndexError) {
        guard query.count == dimension else { throw .dimensionMismatch(expected: dimension, got: query.count) }
        guard query.allSatisfy(\.isFinite) else { throw .nonFiniteComponent(id: 0) }
        guard options.k > 0 else { throw .invalidArgument("k must be at least 1") }
        guard options.probeCount > 0 else { throw .invalidArgument("probeCount must be at least 1") }
    }

    func checkNotDropped() throws(VectorIndexError) {
        if dropped { throw .unknownCollection(name) }
    }
}
