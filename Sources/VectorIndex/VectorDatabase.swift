import CLMDB
import Foundation

/// Many vector collections in one LMDB environment (a directory).
///
/// Collections are opened once and cached; opening one loads its vectors, lists and model from
/// LMDB (it never retrains).
public final class VectorDatabase: @unchecked Sendable {
    // @unchecked Sendable: `collections` is guarded by `lock`.
    public let path: String
    let environment: LMDBEnvironment
    let catalog: Catalog
    let sealer: (any VectorSealer)?
    let residence: VectorResidence
    private let lock = NSLock()
    private var collections: [String: VectorCollection] = [:]

    /// Opens or creates the environment in the directory `path`.
    /// - Parameters:
    ///   - sealer: seals every stored vector record and model blob (e.g. AES-GCM).
    ///   - durability: what a commit flushes; `.noMetaSync` or `.noSync` suit an index that can be
    ///     rebuilt from a system of record.
    /// - Throws: `corrupt` for a file that is not LMDB, `foreignEnvironment` for an LMDB
    ///   environment VectorIndex did not write, `unsupportedFormatVersion` for a newer format.
    ///   - ivfPQVectors: where IVF-PQ collections keep the vectors they re-rank with (`.map`: the heap holds ids, codes
    ///     and lists only).
    public init(path: String, sealer: (any VectorSealer)? = nil, mapSize: Int = 64 << 20,
                durability: LMDBEnvironment.Durability = .full,
                ivfPQVectors: VectorResidence = .map) throws(VectorIndexError) {
        BLAS.useSingleThread()
        self.path = path
        self.residence = ivfPQVectors
        self.sealer = sealer
        do {
            environment = try LMDBEnvironment(path: path, mapSize: mapSize, durability: durability)
        } catch .lmdb(let e) where e == .invalid || e == .versionMismatch || e == .corrupted || e == .incompatible {
            throw .corrupt("\(path) is not a readable LMDB environment (\(e.name))")
        }
        catalog = try Catalog.open(environment)
    }

    /// The names of every collection.
    public func collectionNames() throws(VectorIndexError) -> [String] {
        try environment.read { (txn) throws(VectorIndexError) in try catalog.names(txn) }
    }

    /// Creates an empty collection.
    /// - Throws: `collectionExists`, `invalidCollectionName`, `invalidArgument`.
    @discardableResult
    public func createCollection(_ name: String, dimension: Int, kind: IndexKind = .flat,
                                 trainingPolicy: TrainingPolicy? = nil) throws(VectorIndexError) -> VectorCollection {
        try Self.validate(name)
        guard dimension > 0 && dimension <= 4096 else { throw .invalidArgument("dimension must be 1...4096") }
        try kind.validate(dimension: dimension)
        if let trainingPolicy { try trainingPolicy.kind.validate(dimension: dimension) }
        guard kind == .flat else {
            throw .invalidArgument("a collection starts flat; train it (or set a training policy) to make it \(kind)")
        }
        lock.lock()
        defer { lock.unlock() }
        let entry = Catalog.Entry(dimension: dimension, kind: kind, trainingPolicy: trainingPolicy)
        let storage = try environment.write { (txn) throws(VectorIndexError) -> CollectionStorage in
            if try catalog.entry(txn, name: name) != nil { throw .collectionExists(name) }
            try catalog.put(txn, name: name, entry: entry)
            return try openStorage(txn, name: name)
        }
        let collection = VectorCollection(name: name, configuration: entry, environment: environment, storage: storage,
                                          catalog: catalog, state: IndexState(dimension: dimension, kind: kind), watermark: 0,
                                          residence: residence)
        collections[name] = collection
        return collection
    }

    /// The collection named `name`, loading it on first use.
    /// - Throws: `unknownCollection`, `corrupt`, `sealing`.
    public func collection(_ name: String) throws(VectorIndexError) -> VectorCollection {
        lock.lock()
        defer { lock.unlock() }
        if let open = collections[name] { return open }
        // Database handles are opened in a write transaction so that they outlive it.
        let (entry, storage) = try environment.write { (txn) throws(VectorIndexError) in
            guard let entry = try catalog.entry(txn, name: name) else { throw .unknownCollection(name) }
            return (entry, try openStorage(txn, name: name))
        }
        let collection = try environment.read { (txn) throws(VectorIndexError) -> VectorCollection in
            try load(txn, name: name, entry: entry, storage: storage)
        }
        if collection.listBlocksStale {
            // Opened record by record (blocks not written yet — a store from before them — or not matching the records):
            // write the blocks now, so the next open reads those.
            let state = collection.state
            try environment.write { (txn) throws(VectorIndexError) in
                try storage.putAllLists(txn, state.lists, subquantizerCount: state.subquantizerCount, digest: state.digest)
            }
        }
        collections[name] = collection
        return collection
    }

    /// Deletes a collection and all of its data.
    public func dropCollection(_ name: String) throws(VectorIndexError) {
        lock.lock()
        defer { lock.unlock() }
        let open = collections.removeValue(forKey: name)
        open?.writer.lock()
        defer { open?.writer.unlock() }
        try environment.write { (txn) throws(VectorIndexError) in
            guard try catalog.entry(txn, name: name) != nil else { throw .unknownCollection(name) }
            let storage = try openStorage(txn, name: name)
            try txn.drop(storage.vectors, delete: true)
            try txn.drop(storage.lists, delete: true)
            try txn.drop(storage.model, delete: true)
            try catalog.delete(txn, name: name)
        }
        open?.dropped = true
    }

    /// Flushes everything to disk (needed only with relaxed durability).
    public func sync() throws(VectorIndexError) { try environment.sync() }

    // MARK: - Loading

    private func openStorage(_ txn: borrowing LMDBTransaction, name: String) throws(VectorIndexError) -> CollectionStorage {
        let names = CollectionStorage.databaseNames(for: name)
        let vectors = try txn.openDatabase(names.vectors, create: true)
        let lists = try txn.openDatabase(names.lists, create: true)
        let model = try txn.openDatabase(names.model, create: true)
        return CollectionStorage(name: name, vectors: vectors, lists: lists, model: model, sealer: sealer)
    }

    private func load(_ txn: borrowing LMDBTransaction, name: String, entry: Catalog.Entry,
                      storage: CollectionStorage) throws(VectorIndexError) -> VectorCollection {
        let d = entry.dimension
        let listCount = entry.kind.listCount
        let centroids = listCount > 0 ? try storage.floats(txn, "centroids") : []
        guard let centroids, centroids.count == listCount * d else { throw .corrupt("centroids of \(name)") }
        var pq: ProductQuantizer?
        if case let .ivfPQ(_, m, _) = entry.kind {
            guard let codebooks = try storage.floats(txn, "codebooks"), codebooks.count == d * ProductQuantizer.centroidCount else {
                throw .corrupt("codebooks of \(name)")
            }
            pq = ProductQuantizer(dimension: d, subquantizerCount: m, codebooks: codebooks)
        }
        /// The model with empty lists.
        func emptyState() -> IndexState {
            let state = IndexState(dimension: d, kind: entry.kind)
            if listCount > 0 {
                state.centroids = centroids
                state.setLists([InvertedList](repeating: InvertedList(), count: listCount))
                state.pq = pq
            }
            if pq != nil { state.keepsVectors = residence == .memory }
            return state
        }
        var state = emptyState()
        let count = try txn.count(storage.vectors)
        let watermark = try storage.watermark(txn)
        let hasBlocks = pq != nil ? try storage.hasListBlocks(txn) : false
        if !state.keepsVectors, hasBlocks, let digest = try storage.digest(txn),
           let lists = try? readListBlocks(txn, storage: storage, entry: entry), lists.reduce(0, { $0 + $1.count }) == count {
            // The lists as stored: no record is read. Blocks that do not match the records (sizes, an id twice) are read
            // past, and rewritten after the records are loaded.
            if state.loadLists(lists, digest: digest) {
                return VectorCollection(name: name, configuration: entry, environment: environment, storage: storage,
                                        catalog: catalog, state: state, watermark: watermark, residence: residence)
            }
            state = emptyState()
        }
        state.ids.reserveCapacity(count)
        if state.keepsVectors { state.vectors.reserveCapacity(count * d) }
        state.slotOf.reserveCapacity(count)
        let m = entry.kind.subquantizerCount
        var recordsRead = 0
        try storage.forEachRecord(txn, dimension: d, subquantizerCount: m) { (id, list, code, vector) throws(VectorIndexError) in
            recordsRead += 1
            if listCount > 0 {
                guard list < listCount else { throw .corrupt("list \(list) of id \(id) in \(name)") }
            } else if list != CollectionStorage.flatList {
                throw .corrupt("flat collection \(name) has a listed vector")
            }
            guard state.slotOf[id] == nil else { throw .corrupt("id \(id) stored twice in \(name)") }
            state.append(id: id, vector: vector, list: list, code: code.bindMemory(to: UInt8.self))
        }
        let collection = VectorCollection(name: name, configuration: entry, environment: environment, storage: storage,
                                          catalog: catalog, state: state, watermark: watermark, residence: residence)
        collection.recordsReadAtOpen = recordsRead
        collection.listBlocksStale = state.pq != nil && (!hasBlocks || !state.keepsVectors)
        return collection
    }

    /// The stored list blocks of an IVF-PQ collection, checked: list numbers in range, each list's blocks in order and
    /// full but for its last. (An id in two lists is caught by `IndexState.loadLists`.)
    /// - Complexity: O(stored entries), two passes over the blocks.
    private func readListBlocks(_ txn: borrowing LMDBTransaction, storage: CollectionStorage,
                                entry: Catalog.Entry) throws(VectorIndexError) -> [InvertedList] {
        let m = entry.kind.subquantizerCount, listCount = entry.kind.listCount
        // Two passes: the blocks' sizes first (so each list's arrays are allocated once, exactly), then their contents.
        var sizes = [Int](repeating: 0, count: listCount)
        var blocks = [Int](repeating: 0, count: listCount)
        try storage.forEachBlock(txn, subquantizerCount: m) { (number, block, ids, _) throws(VectorIndexError) in
            // Blocks arrive in (list, block) order; each list's are 0, 1, 2, … and only its last is short.
            guard number < listCount, block == blocks[number], sizes[number] == block * CollectionStorage.blockSize else {
                throw .corrupt("block \(block) of list \(number) of \(storage.name) out of place")
            }
            sizes[number] += ids.count / 8
            blocks[number] += 1
        }
        var lists = (0..<listCount).map { l in
            var list = InvertedList()
            list.ids.reserveCapacity(sizes[l])
            list.codes.reserveCapacity(blocks[l] * m * 16)
            return list
        }
        try storage.forEachBlock(txn, subquantizerCount: m) { (number, _, ids, codes) throws(VectorIndexError) in
            for i in 0..<(ids.count / 8) {
                lists[number].ids.append(UInt64(littleEndian: ids.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
            }
            lists[number].codes.append(contentsOf: codes)
        }
        return lists
    }

    static func validate(_ name: String) throws(VectorIndexError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
        guard !name.isEmpty, name.count <= 100, name.allSatisfy(allowed.contains) else {
            throw .invalidCollectionName(name)
        }
    }
}
