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
        let model = try txn.openDatabase(names.model, create: true)
        return CollectionStorage(name: name, vectors: vectors, model: model, sealer: sealer)
    }

    private func load(_ txn: borrowing LMDBTransaction, name: String, entry: Catalog.Entry,
                      storage: CollectionStorage) throws(VectorIndexError) -> VectorCollection {
        let d = entry.dimension
        let state = IndexState(dimension: d, kind: entry.kind)
        let listCount = entry.kind.listCount
        if listCount > 0 {
            guard let centroids = try storage.floats(txn, "centroids"), centroids.count == listCount * d else {
                throw .corrupt("centroids of \(name)")
            }
            state.centroids = centroids
            state.setLists([InvertedList](repeating: InvertedList(), count: listCount))
            if case let .ivfPQ(_, m, _) = entry.kind {
                guard let codebooks = try storage.floats(txn, "codebooks"),
                      codebooks.count == d * ProductQuantizer.centroidCount else {
                    throw .corrupt("codebooks of \(name)")
                }
                state.pq = ProductQuantizer(dimension: d, subquantizerCount: m, codebooks: codebooks)
            }
        }
        let count = try txn.count(storage.vectors)
        if case .ivfPQ = entry.kind { state.keepsVectors = residence == .memory }
        state.ids.reserveCapacity(count)
        if state.keepsVectors { state.vectors.reserveCapacity(count * d) }
        state.slotOf.reserveCapacity(count)
        let m = entry.kind.subquantizerCount
        try storage.forEachRecord(txn, dimension: d, subquantizerCount: m) { (id, list, code, vector) throws(VectorIndexError) in
            if listCount > 0 {
                guard list < listCount else { throw .corrupt("list \(list) of id \(id) in \(name)") }
            } else if list != CollectionStorage.flatList {
                throw .corrupt("flat collection \(name) has a listed vector")
            }
            guard state.slotOf[id] == nil else { throw .corrupt("id \(id) stored twice in \(name)") }
            state.append(id: id, vector: vector, list: list, code: code.bindMemory(to: UInt8.self))
        }
        let watermark = try storage.watermark(txn)
        return VectorCollection(name: name, configuration: entry, environment: environment, storage: storage,
                                catalog: catalog, state: state, watermark: watermark, residence: residence)
    }

    static func validate(_ name: String) throws(VectorIndexError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
        guard !name.isEmpty, name.count <= 100, name.allSatisfy(allowed.contains) else {
            throw .invalidCollectionName(name)
        }
    }
}
