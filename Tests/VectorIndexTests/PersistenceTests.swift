import CLMDB
import Foundation
import Testing
@testable import VectorIndex

@Suite struct PersistenceTests {
    static let data = SyntheticDataset(count: 4000, queryCount: 20, seed: 13)

    @Test(arguments: [IndexKind.flat, .ivfFlat(listCount: 32), .ivfPQ(listCount: 32, subquantizerCount: 32, bits: 4)])
    func roundTripWithoutRetraining(kind: IndexKind) throws {
        let dir = TemporaryDirectory()
        let options = SearchOptions(k: 10, probeCount: 8, rerankCount: 50)
        let before: [[SearchResult]]
        do {
            let db = try VectorDatabase(path: dir.path, sealer: XORTestSealer(key: 99))
            let c = try makeCollection(db, "r", Self.data, count: 3000)
            if kind != .flat { try c.train(kind: kind) }
            // Vectors added after training: a retrain on reopen would move the centroids.
            try c.add(ids: (3000..<4000).map { UInt64(1000 + $0) }, vectors: (3000..<4000).map(Self.data.vector), watermark: 42)
            try c.remove(ids: [1001, 1002])
            before = try (0..<20).map { try c.search(Self.data.query($0), options: options) }
        }
        let db = try VectorDatabase(path: dir.path, sealer: XORTestSealer(key: 99))
        let c = try db.collection("r")
        #expect(c.kind == kind && c.count == 3998 && c.watermark == 42)
        let after = try (0..<20).map { try c.search(Self.data.query($0), options: options) }
        #expect(after == before)
        #expect(try db.collectionNames() == ["r"])
    }

    /// Two copies reached by different paths (batch vs one by one, an update, removals, a reopen, training) have the same
    /// digest; a copy that differs by one vector, or by one id, does not.
    @Test func contentsDigestComparesCopies() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path, sealer: XORTestSealer(key: 7))
        let a = try makeCollection(db, "a", Self.data, count: 300)
        try a.remove(ids: [1005, 1006])
        let b = try db.createCollection("b", dimension: Self.data.dimension)
        for i in (0..<300).reversed() where ![5, 6].contains(i) {
            try b.add(id: UInt64(1000 + i), vector: i == 7 ? Self.data.vector(8) : Self.data.vector(i))
        }
        #expect(a.contents.count == b.contents.count)
        #expect(a.contents.digest != b.contents.digest)
        try b.update(id: 1007, vector: Self.data.vector(7), watermark: 9)
        #expect(a.contents.digest == b.contents.digest && b.contents.watermark == 9)
        let expected = VectorCollection.digest(of: (0..<300).filter { ![5, 6].contains($0) }.map { (UInt64(1000 + $0), Self.data.vector($0)) })
        #expect(a.contents.digest == expected)
        try b.train(kind: .ivfPQ(listCount: 8, subquantizerCount: 16, bits: 4))
        #expect(b.contents.digest == expected)
        let reopened = try VectorDatabase(path: dir.path, sealer: XORTestSealer(key: 7))
        #expect(try reopened.collection("b").contents.digest == expected)
        try b.remove(ids: [1010])
        try b.add(id: 1011 + 5000, vector: Self.data.vector(10))
        #expect(b.contents.count == 298 && b.contents.digest != expected)
    }

    @Test func manyCollectionsCreateListDrop() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        for name in ["a", "b", "c"] { try makeCollection(db, name, Self.data, count: 10) }
        try db.dropCollection("b")
        #expect(try db.collectionNames().sorted() == ["a", "c"])
        #expect(throws: VectorIndexError.unknownCollection("b")) { try db.collection("b") }
        let again = try db.createCollection("b", dimension: 4)
        #expect(again.count == 0)
        let reopened = try VectorDatabase(path: dir.path)
        #expect(try reopened.collection("a").count == 10)
        #expect(try reopened.collection("b").dimension == 4)
    }

    @Test func sealedFilesHoldNoPlaintextVectors() throws {
        let probe = Self.data.vector(123).prefix(4).withUnsafeBytes { Data($0) }
        for sealed in [false, true] {
            let dir = TemporaryDirectory()
            do {
                let db = try VectorDatabase(path: dir.path, sealer: sealed ? XORTestSealer(key: 5) : nil)
                let c = try makeCollection(db, "s", Self.data, count: 500)
                try c.train(kind: .ivfPQ(listCount: 8, subquantizerCount: 16, bits: 4))
            }
            let file = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/data.mdb"))
            // Without the hook the bytes are there, which shows the search can find them.
            #expect((file.range(of: probe) != nil) == !sealed)
        }
    }

    @Test func wrongSealerIsATypedError() throws {
        let dir = TemporaryDirectory()
        do {
            let db = try VectorDatabase(path: dir.path, sealer: XORTestSealer(key: 1))
            try makeCollection(db, "w", Self.data, count: 5)
        }
        let db = try VectorDatabase(path: dir.path, sealer: XORTestSealer(key: 2))
        #expect(throws: VectorIndexError.sealing("cannot open vector record of w")) { try db.collection("w") }
    }

    @Test func corruptEnvironmentIsRejected() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        try Data(repeating: 0x5A, count: 64 * 1024).write(to: URL(fileURLWithPath: dir.path + "/data.mdb"))
        #expect {
            try VectorDatabase(path: dir.path)
        } throws: { error in
            if case .corrupt = error as? VectorIndexError { return true }
            return false
        }
    }

    @Test func foreignEnvironmentIsRejected() throws {
        let dir = TemporaryDirectory()
        do {
            let env = try LMDBEnvironment(path: dir.path)
            let dbi = try env.openDatabase("someone-else", create: true)
            try env.write { txn throws(VectorIndexError) in try txn.put(dbi, key: [1], value: [2]) }
        }
        #expect(throws: VectorIndexError.foreignEnvironment) { try VectorDatabase(path: dir.path) }
    }

    @Test func futureFormatVersionIsRejected() throws {
        let dir = TemporaryDirectory()
        _ = try VectorDatabase(path: dir.path)
        try writeFormatVersion(99, at: dir.path)
        #expect(throws: VectorIndexError.unsupportedFormatVersion(found: 99, supported: Catalog.formatVersion)) {
            try VectorDatabase(path: dir.path)
        }
    }

    @Test func watermarkIsAtomicWithItsBatch() throws {
        let dir = TemporaryDirectory()
        do {
            let db = try VectorDatabase(path: dir.path)
            let c = try db.createCollection("wm", dimension: 128)
            try c.add(ids: [1, 2], vectors: [Self.data.vector(1), Self.data.vector(2)], watermark: 10)
            #expect(c.watermark == 10)
            #expect(throws: VectorIndexError.self) {
                try c.apply([.add(id: 3, vector: Self.data.vector(3)), .add(id: 3, vector: Self.data.vector(3))], watermark: 11)
            }
            #expect(c.watermark == 10)
            try c.apply([.remove(id: 1)], watermark: 12)
        }
        let c = try VectorDatabase(path: dir.path).collection("wm")
        #expect(c.watermark == 12 && c.count == 1 && c.contains(2))
    }
}
