import CLMDB

/// The LMDB layout of one collection: three named databases.
///
/// - `c/<name>/vectors`: key = id as 8 big-endian bytes (so a cursor visits ids in order);
///   value = sealed record. Record layout: list number (UInt32 LE, `UInt32.max` when flat),
///   `subquantizerCount` code bytes (one 4-bit code per byte), `dimension` Float32 LE.
/// - `c/<name>/lists` (IVF-PQ): the inverted lists in sealed blocks of 32 entries, key = list number
///   and block number (UInt32 big-endian each). Block layout: count (UInt8, 1…32; only a list's last
///   block holds fewer than 32), count ids (UInt64 LE), then the block's `subquantizerCount × 16`
///   fast-scan code bytes exactly as `InvertedList.codes` holds them. A commit rewrites the blocks
///   whose entries it changed (an append one, a removal two: the hole and the last); a reopen reads
///   these blocks instead of every record.
/// - `c/<name>/model`: `centroids` (sealed, layout (listCount, dimension)), `codebooks`
///   (sealed, `ProductQuantizer.codebooks` layout), `watermark` (UInt64 LE), and with the blocks
///   `digest` (UInt64 LE, the collection's `contents` digest) and `lists` (UInt32 LE 1: the
///   blocks are complete).
///
/// The collection's configuration (dimension, kind, policy) lives in the environment catalog.
struct CollectionStorage: Sendable {
    let name: String
    let vectors: MDB_dbi
    let lists: MDB_dbi
    let model: MDB_dbi
    let sealer: (any VectorSealer)?
    /// The sealing context's prefix for records ("vectorindex/<name>/vectors/"), built once: a search opens hundreds.
    private let recordContext: [UInt8]

    init(name: String, vectors: MDB_dbi, lists: MDB_dbi, model: MDB_dbi, sealer: (any VectorSealer)?) {
        self.name = name
        self.vectors = vectors
        self.lists = lists
        self.model = model
        self.sealer = sealer
        recordContext = Array("vectorindex/\(name)/vectors/".utf8)
    }

    static func databaseNames(for name: String) -> (vectors: String, lists: String, model: String) {
        ("c/\(name)/vectors", "c/\(name)/lists", "c/\(name)/model")
    }

    static let flatList = UInt32.max

    // MARK: - Records

    func putRecord(_ txn: borrowing LMDBTransaction, id: UInt64, list: UInt32,
                   code: ArraySlice<UInt8>, vector: ArraySlice<Float>) throws(VectorIndexError) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(4 + code.count + vector.count * 4)
        withUnsafeBytes(of: list.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: code)
        vector.withUnsafeBytes { bytes.append(contentsOf: $0) }
        let key = Self.key(id)
        try txn.put(vectors, key: key, value: try seal(bytes, key: key, database: "vectors"))
    }

    func deleteRecord(_ txn: borrowing LMDBTransaction, id: UInt64) throws(VectorIndexError) {
        try txn.delete(vectors, key: Self.key(id))
    }

    /// Visits every record in id order.
    func forEachRecord(_ txn: borrowing LMDBTransaction, dimension: Int, subquantizerCount: Int,
                       _ body: (UInt64, UInt32, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(VectorIndexError) -> Void) throws(VectorIndexError) {
        let expected = 4 + subquantizerCount + dimension * 4
        try txn.forEach(vectors) { (key, value) throws(VectorIndexError) in
            guard key.count == 8 else { throw .corrupt("vector key of \(key.count) bytes in \(name)") }
            var id: UInt64 = 0
            for b in key { id = id << 8 | UInt64(b) }
            try withPlaintext(value, context: recordContext + Array(key), what: "vector record") { (raw) throws(VectorIndexError) in
                try visit(id, raw, expected: expected, subquantizerCount: subquantizerCount, body)
            }
        }
    }

    /// Calls `body` with a stored value as it is (unsealed: the memory-mapped bytes, not copied) or opened.
    /// - Throws: `sealing` when it does not open, or what `body` throws.
    private func withPlaintext<R>(_ value: UnsafeRawBufferPointer, context: [UInt8], what: @autoclosure () -> String,
                                  _ body: (UnsafeRawBufferPointer) throws(VectorIndexError) -> R) throws(VectorIndexError) -> R {
        guard let sealer else { return try body(value) }
        let opened: [UInt8]
        do {
            opened = try sealer.open(Array(value), context: context)
        } catch is VectorSealerKeyUnavailable {
            throw .keyUnavailable("\(what()) of \(name)")
        } catch {
            throw .sealing("cannot open \(what()) of \(name)")
        }
        var result: Result<R, VectorIndexError>!
        opened.withUnsafeBytes { raw in
            do throws(VectorIndexError) { result = .success(try body(raw)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    /// Reads the vector stored for `id` into `out` (`dimension` floats): straight from the map when unsealed, opened when
    /// sealed. Returns false when `id` has no record.
    func readVector(_ txn: borrowing LMDBTransaction, id: UInt64, dimension: Int, subquantizerCount: Int,
                    into out: UnsafeMutablePointer<Float>) throws(VectorIndexError) -> Bool {
        let expected = 4 + subquantizerCount + dimension * 4
        let key = Self.key(id)
        let name = self.name
        func copy(_ raw: UnsafeRawBufferPointer) throws(VectorIndexError) {
            guard raw.count == expected else { throw .corrupt("vector record of \(raw.count) bytes in \(name)") }
            UnsafeMutableRawPointer(out).copyMemory(from: raw.baseAddress! + 4 + subquantizerCount, byteCount: dimension * 4)
        }
        let found = try txn.get(vectors, key: key) { (value) throws(VectorIndexError) -> Bool in
            try withPlaintext(value, context: recordContext + key, what: "vector record") { (raw) throws(VectorIndexError) in
                try copy(raw)
            }
            return true
        }
        return found ?? false
    }

    /// `IndexState.entryDigest` of the vector stored for `id`, or nil when `id` has no record.
    func storedDigest(_ txn: borrowing LMDBTransaction, id: UInt64, dimension: Int,
                      subquantizerCount: Int) throws(VectorIndexError) -> UInt64? {
        try withUnsafeTemporaryAllocation(of: Float.self, capacity: dimension) { (v) throws(VectorIndexError) -> UInt64? in
            guard try readVector(txn, id: id, dimension: dimension, subquantizerCount: subquantizerCount,
                                 into: v.baseAddress!) else { return nil }
            return IndexState.entryDigest(id: id, vector: UnsafeRawBufferPointer(v))
        }
    }

    private func visit(_ id: UInt64, _ raw: UnsafeRawBufferPointer, expected: Int, subquantizerCount: Int,
                       _ body: (UInt64, UInt32, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(VectorIndexError) -> Void) throws(VectorIndexError) {
        guard raw.count == expected else { throw .corrupt("vector record of \(raw.count) bytes in \(name)") }
        let list = UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self))
        try body(id, list, UnsafeRawBufferPointer(rebasing: raw[4..<(4 + subquantizerCount)]),
                 UnsafeRawBufferPointer(rebasing: raw[(4 + subquantizerCount)...]))
    }

    // MARK: - List blocks

    /// Entries per stored block: one fast-scan block of codes.
    static let blockSize = 32

    private static func blockKey(list: Int, block: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt32(list).bigEndian) { Array($0) } + withUnsafeBytes(of: UInt32(block).bigEndian) { Array($0) }
    }

    /// Writes block `block` of `list` (entries `32·block ..< 32·block + 32`), or deletes it when the list no longer
    /// reaches it.
    func putBlock(_ txn: borrowing LMDBTransaction, list number: Int, block: Int, of list: InvertedList,
                  subquantizerCount m: Int) throws(VectorIndexError) {
        let key = Self.blockKey(list: number, block: block)
        let start = block * Self.blockSize
        guard start < list.count else {
            try txn.delete(lists, key: key)
            return
        }
        let end = min(list.count, start + Self.blockSize)
        var bytes = [UInt8]()
        bytes.reserveCapacity(1 + (end - start) * 8 + m * 16)
        bytes.append(UInt8(end - start))
        for id in list.ids[start..<end] { withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) } }
        bytes.append(contentsOf: list.codes[(block * m * 16)..<((block + 1) * m * 16)])
        try txn.put(lists, key: key, value: try seal(bytes, key: key, database: "lists"))
    }

    /// Writes every block of every list, the digest and the marker that the blocks are complete (a rebuild, an upgrade).
    func putAllLists(_ txn: borrowing LMDBTransaction, _ all: [InvertedList], subquantizerCount m: Int,
                     digest: UInt64) throws(VectorIndexError) {
        try txn.drop(lists, delete: false)
        for (number, list) in all.enumerated() {
            for block in 0..<((list.count + Self.blockSize - 1) / Self.blockSize) {
                try putBlock(txn, list: number, block: block, of: list, subquantizerCount: m)
            }
        }
        try putDigest(txn, digest)
        try txn.put(model, key: Array("lists".utf8), value: withUnsafeBytes(of: UInt32(1).littleEndian) { Array($0) })
    }

    /// Removes the blocks and their marker (the collection is no longer IVF-PQ).
    func dropLists(_ txn: borrowing LMDBTransaction) throws(VectorIndexError) {
        try txn.drop(lists, delete: false)
        try txn.delete(model, key: Array("lists".utf8))
        try txn.delete(model, key: Array("digest".utf8))
    }

    /// Whether complete list blocks are stored.
    func hasListBlocks(_ txn: borrowing LMDBTransaction) throws(VectorIndexError) -> Bool {
        try txn.get(model, key: Array("lists".utf8)) { raw in raw.count == 4 && raw.loadUnaligned(as: UInt32.self) == UInt32(1).littleEndian } ?? false
    }

    /// Visits every stored block in (list, block) order: list and block numbers, its ids (count × UInt64 LE, unaligned)
    /// and its `subquantizerCount × 16` code bytes.
    func forEachBlock(_ txn: borrowing LMDBTransaction, subquantizerCount m: Int,
                      _ body: (Int, Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(VectorIndexError) -> Void) throws(VectorIndexError) {
        let name = self.name
        try txn.forEach(lists) { (key, value) throws(VectorIndexError) in
            guard key.count == 8 else { throw .corrupt("list block key of \(key.count) bytes in \(name)") }
            let number = Int(UInt32(bigEndian: key.loadUnaligned(as: UInt32.self)))
            let block = Int(UInt32(bigEndian: key.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
            func visit(_ raw: UnsafeRawBufferPointer) throws(VectorIndexError) {
                let count = raw.isEmpty ? 0 : Int(raw[0])
                guard count > 0, count <= Self.blockSize, raw.count == 1 + count * 8 + m * 16 else {
                    throw .corrupt("block \(block) of list \(number) of \(name)")
                }
                try body(number, block, UnsafeRawBufferPointer(rebasing: raw[1..<(1 + count * 8)]),
                         UnsafeRawBufferPointer(rebasing: raw[(1 + count * 8)...]))
            }
            try withPlaintext(value, context: context(Array(key), database: "lists"),
                              what: "block \(block) of list \(number)", visit)
        }
    }

    func putDigest(_ txn: borrowing LMDBTransaction, _ digest: UInt64) throws(VectorIndexError) {
        try txn.put(model, key: Array("digest".utf8), value: withUnsafeBytes(of: digest.littleEndian) { Array($0) })
    }

    func digest(_ txn: borrowing LMDBTransaction) throws(VectorIndexError) -> UInt64? {
        try txn.get(model, key: Array("digest".utf8)) { (raw) throws(VectorIndexError) -> UInt64 in
            guard raw.count == 8 else { throw .corrupt("digest of \(name)") }
            return UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        }
    }

    // MARK: - Model

    func putFloats(_ txn: borrowing LMDBTransaction, _ key: String, _ floats: [Float]) throws(VectorIndexError) {
        let bytes = floats.withUnsafeBytes { Array($0) }
        let k = Array(key.utf8)
        try txn.put(model, key: k, value: try seal(bytes, key: k, database: "model"))
    }

    func floats(_ txn: borrowing LMDBTransaction, _ key: String) throws(VectorIndexError) -> [Float]? {
        let k = Array(key.utf8)
        guard let stored = try txn.get(model, key: k, { Array($0) }) else { return nil }
        let bytes: [UInt8]
        if let sealer {
            do {
                bytes = try sealer.open(stored, context: context(k, database: "model"))
            } catch is VectorSealerKeyUnavailable {
                throw .keyUnavailable("\(key) of \(name)")
            } catch {
                throw .sealing("cannot open \(key) of \(name)")
            }
        } else {
            bytes = stored
        }
        guard bytes.count % 4 == 0 else { throw .corrupt("\(key) of \(name)") }
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func putWatermark(_ txn: borrowing LMDBTransaction, _ watermark: UInt64) throws(VectorIndexError) {
        try txn.put(model, key: Array("watermark".utf8), value: withUnsafeBytes(of: watermark.littleEndian) { Array($0) })
    }

    func watermark(_ txn: borrowing LMDBTransaction) throws(VectorIndexError) -> UInt64 {
        try txn.get(model, key: Array("watermark".utf8)) { (raw) throws(VectorIndexError) -> UInt64 in
            guard raw.count == 8 else { throw .corrupt("watermark of \(name)") }
            return UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        } ?? 0
    }

    // MARK: - Sealing

    static func key(_ id: UInt64) -> [UInt8] {
        withUnsafeBytes(of: id.bigEndian) { Array($0) }
    }

    private func context(_ key: [UInt8], database: String) -> [UInt8] {
        Array("vectorindex/\(name)/\(database)/".utf8) + key
    }

    private func seal(_ bytes: [UInt8], key: [UInt8], database: String) throws(VectorIndexError) -> [UInt8] {
        guard let sealer else { return bytes }
        do {
            return try sealer.seal(bytes, context: context(key, database: database))
        } catch is VectorSealerKeyUnavailable {
            throw .keyUnavailable("a record of \(name)")
        } catch {
            throw .sealing("cannot seal a record of \(name)")
        }
    }
}
