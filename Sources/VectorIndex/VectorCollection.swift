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
    // only under `writer` and/or `stateLock` as described above.
    public let name: String
    public let dimension: Int
    let environment: LMDBEnvironment
    let storage: CollectionStorage
    let catalog: Catalog
    let writer = NSLock()
    /// Batches waiting for the next group commit (`apply`).
    let queue = Mutex<[PendingBatch]>([])
    /// How many group commits `apply` has made (tests: fewer than the calls when callers overlap).
    let groupCommits = Atomic<Int>(0)
    let stateLock = ReadWriteLock()
    let state: IndexState
    var policy: TrainingPolicy?
    var currentWatermark: UInt64
    var dropped = false

    init(name: String, configuration: Catalog.Entry, environment: LMDBEnvironment, storage: CollectionStorage,
         catalog: Catalog, state: IndexState, watermark: UInt64) {
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

    /// A copy of the vector stored for `id`.
    public func vector(for id: UInt64) -> [Float]? { stateLock.withReadLock { state.vector(for: id) } }

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
        return stateLock.withReadLock {
            query.withUnsafeBufferPointer { state.search($0.baseAddress!, options: options) }
        }
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
        stateLock.withReadLock {
            DispatchQueue.concurrentPerform(iterations: max(1, min(threads, queries.count))) { worker in
                var i = worker
                while i < queries.count {
                    out[i] = queries[i].withUnsafeBufferPointer { self.state.search($0.baseAddress!, options: opts) }
                    i += max(1, min(threads, queries.count))
                }
            }
        }
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
