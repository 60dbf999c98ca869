import CLMDB
import Foundation

/// The environment-wide catalog: the `_vectorindex` database holds the format marker and one
/// JSON entry per collection (its configuration; no vector data).
struct Catalog: Sendable {
    static let databaseName = "_vectorindex"
    static let magic = "faceid-vectorindex"
    /// 2: IVF-PQ collections keep list blocks (`CollectionStorage`) that every commit updates. A version-1 environment is
    /// marked 2 when opened (its collections get their blocks at their first open), so a binary that does not update
    /// the blocks refuses it rather than leaving them stale.
    static let formatVersion: UInt32 = 2
    private static let formatKey = Array("format".utf8)
    private static let collectionPrefix = "collection/"

    struct Entry: Codable, Equatable {
        var dimension: Int
        var kind: IndexKind
        var trainingPolicy: TrainingPolicy?
    }

    let dbi: MDB_dbi

    /// Opens the catalog of `environment`, writing the format marker into a new environment and
    /// rejecting a foreign or newer one.
    static func open(_ environment: LMDBEnvironment) throws(VectorIndexError) -> Catalog {
        try environment.write { (txn) throws(VectorIndexError) -> Catalog in
            let mainDB = try txn.openDatabase(nil)
            let existing = try txn.count(mainDB)
            let dbi: MDB_dbi
            do throws(VectorIndexError) {
                dbi = try txn.openDatabase(databaseName, create: false)
            } catch {
                guard case .unknownCollection = error else { throw error }
                guard existing == 0 else { throw .foreignEnvironment }
                dbi = try txn.openDatabase(databaseName, create: true)
                var marker = Array(magic.utf8)
                withUnsafeBytes(of: formatVersion.littleEndian) { marker.append(contentsOf: $0) }
                try txn.put(dbi, key: formatKey, value: marker)
                return Catalog(dbi: dbi)
            }
            let version = try txn.get(dbi, key: formatKey) { (raw) throws(VectorIndexError) -> UInt32 in
                let m = magic.utf8.count
                guard raw.count == m + 4, Array(raw.prefix(m)) == Array(magic.utf8) else { throw .foreignEnvironment }
                return UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: m, as: UInt32.self))
            }
            guard let version else { throw .foreignEnvironment }
            guard version <= formatVersion else {
                throw .unsupportedFormatVersion(found: version, supported: formatVersion)
            }
            if version < formatVersion {
                var marker = Array(magic.utf8)
                withUnsafeBytes(of: formatVersion.littleEndian) { marker.append(contentsOf: $0) }
                try txn.put(dbi, key: formatKey, value: marker)
            }
            return Catalog(dbi: dbi)
        }
    }

    func put(_ txn: borrowing LMDBTransaction, name: String, entry: Entry) throws(VectorIndexError) {
        let data: Data
        do { data = try JSONEncoder().encode(entry) } catch { throw .invalidArgument("unencodable configuration") }
        try txn.put(dbi, key: Array((Self.collectionPrefix + name).utf8), value: Array(data))
    }

    func entry(_ txn: borrowing LMDBTransaction, name: String) throws(VectorIndexError) -> Entry? {
        guard let bytes = try txn.get(dbi, key: Array((Self.collectionPrefix + name).utf8), { Data($0) }) else { return nil }
        let entry: Entry
        do { entry = try JSONDecoder().decode(Entry.self, from: bytes) } catch {
            throw .corrupt("catalog entry of \(name)")
        }
        // The catalog is not sealed: a damaged entry must not size an allocation or a table.
        do throws(VectorIndexError) {
            guard entry.dimension > 0 && entry.dimension <= 4096 else { throw .invalidArgument("dimension") }
            try entry.kind.validate(dimension: entry.dimension)
            if let policy = entry.trainingPolicy { try policy.kind.validate(dimension: entry.dimension) }
            guard entry.kind.listCount <= Self.maxListCount else { throw .invalidArgument("listCount") }
        } catch {
            throw .corrupt("catalog entry of \(name) (\(error))")
        }
        return entry
    }

    /// More inverted lists than any index VectorIndex trains (FAISS suggests 4·√n…16·√n).
    static let maxListCount = 1 << 20

    func delete(_ txn: borrowing LMDBTransaction, name: String) throws(VectorIndexError) {
        try txn.delete(dbi, key: Array((Self.collectionPrefix + name).utf8))
    }

    func names(_ txn: borrowing LMDBTransaction) throws(VectorIndexError) -> [String] {
        var names: [String] = []
        try txn.forEach(dbi) { (key, _) throws(VectorIndexError) in
            let k = String(decoding: key, as: UTF8.self)
            if k.hasPrefix(Self.collectionPrefix) { names.append(String(k.dropFirst(Self.collectionPrefix.count))) }
        }
        return names
    }
}
