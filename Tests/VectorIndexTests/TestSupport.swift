import Foundation
@testable import VectorIndex

/// A temporary directory removed when the value is deinitialised.
final class TemporaryDirectory {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("vectorindex-\(UUID().uuidString)").path
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A stand-in for the server's AES-GCM sealer in tests about the hook itself: a keyed XOR
/// stream bound to the context, plus a check tag, so wrong context or tampering is detected.
struct XORTestSealer: VectorSealer {
    struct Failure: Error {}
    let key: UInt64

    func seal(_ plaintext: [UInt8], context: [UInt8]) throws -> [UInt8] {
        var out = stream(plaintext, context)
        out += tag(plaintext, context)
        return out
    }

    func open(_ sealed: [UInt8], context: [UInt8]) throws -> [UInt8] {
        guard sealed.count >= 8 else { throw Failure() }
        let plain = stream(Array(sealed.dropLast(8)), context)
        guard Array(sealed.suffix(8)) == tag(plain, context) else { throw Failure() }
        return plain
    }

    private func stream(_ bytes: [UInt8], _ context: [UInt8]) -> [UInt8] {
        var rng = SeededGenerator(seed: key ^ UInt64(truncatingIfNeeded: context.hashValue2))
        var out = bytes
        for i in out.indices { out[i] ^= UInt8(truncatingIfNeeded: rng.next()) }
        return out
    }

    private func tag(_ plain: [UInt8], _ context: [UInt8]) -> [UInt8] {
        var h: UInt64 = key
        for b in context + plain { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return withUnsafeBytes(of: h) { Array($0) }
    }
}

private extension Array where Element == UInt8 {
    /// FNV-1a, stable across runs (unlike `hashValue`).
    var hashValue2: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in self { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }
}

/// Recall@k of `results` against exact `truth`.
func recall(_ results: [[SearchResult]], _ truth: [[SearchResult]], k: Int) -> Double {
    var hits = 0
    for (r, t) in zip(results, truth) {
        let exact = Set(t.prefix(k).map(\.id))
        hits += r.prefix(k).filter { exact.contains($0.id) }.count
    }
    return Double(hits) / Double(k * truth.count)
}

/// Makes a collection holding the first `count` vectors of `data` with ids 1000 + i.
@discardableResult
func makeCollection(_ db: VectorDatabase, _ name: String, _ data: SyntheticDataset,
                    count: Int? = nil) throws -> VectorCollection {
    let c = try db.createCollection(name, dimension: data.dimension)
    let n = count ?? data.count
    try c.add(ids: (0..<n).map { UInt64(1000 + $0) }, vectors: (0..<n).map(data.vector))
    return c
}

/// Overwrites the catalog's format marker of the environment in `path` (an older or a future format).
func writeFormatVersion(_ version: UInt32, at path: String) throws {
    let env = try LMDBEnvironment(path: path)
    let dbi = try env.openDatabase(Catalog.databaseName, create: false)
    var marker = Array(Catalog.magic.utf8)
    withUnsafeBytes(of: version.littleEndian) { marker.append(contentsOf: $0) }
    try env.write { txn throws(VectorIndexError) in try txn.put(dbi, key: Array("format".utf8), value: marker) }
}
