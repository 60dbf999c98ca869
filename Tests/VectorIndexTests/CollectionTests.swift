import Foundation
import Testing
@testable import VectorIndex

@Suite struct SearchQualityTests {
    static let data = SyntheticDataset(count: 20_000, queryCount: 100, seed: 11)

    func exact(_ c: VectorCollection) throws -> [[SearchResult]] {
        try (0..<Self.data.queryCount).map { try c.search(Self.data.query($0), options: SearchOptions(k: 10, exact: true)) }
    }

    @Test func flatSearchIsExact() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try makeCollection(db, "flat", Self.data, count: 2000)
        let q = Self.data.query(0)
        let results = try c.search(q, options: SearchOptions(k: 5))
        var brute = (0..<2000).map { i in
            (UInt64(1000 + i), zip(q, Self.data.vector(i)).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) })
        }
        brute.sort { $0.1 < $1.1 }
        #expect(results.map(\.id) == brute.prefix(5).map(\.0))
        #expect(abs(results[0].distance - brute[0].1.squareRoot()) < 1e-4)
        let threaded = try c.search(q, options: SearchOptions(k: 5, threads: 2))
        #expect(threaded == results)
    }

    /// The exact scan split across threads answers exactly as on one thread (same ids, same distances, ties by id), and
    /// its distances agree with a scalar reference.
    @Test func threadedExactScanEqualsSingleThreaded() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try makeCollection(db, "flat", Self.data)
        #expect(c.count >= 2 * 4096, "enough vectors for two parts")
        for q in 0..<20 {
            let query = Self.data.query(q)
            let one = try c.search(query, options: SearchOptions(k: 10, exact: true, threads: 1))
            let two = try c.search(query, options: SearchOptions(k: 10, exact: true, threads: 2))
            #expect(one == two, "query \(q)")
            for hit in one {
                let v = Self.data.vector(Int(hit.id) - 1000)
                let reference = zip(query, v).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
                #expect(abs(hit.distance - reference) <= 1e-5 * max(1, reference))
            }
        }
    }

    /// IVF-Flat with 100 lists reaches recall@10 ≥ 0.9 at probeCount 32 (measured 0.99).
    @Test func ivfFlatRecall() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try makeCollection(db, "ivf", Self.data)
        let truth = try exact(c)
        try c.train(kind: .ivfFlat(listCount: 100))
        #expect(c.kind == .ivfFlat(listCount: 100))
        let results = try c.search(batch: (0..<Self.data.queryCount).map(Self.data.query),
                                   options: SearchOptions(k: 10, probeCount: 32), threads: 2)
        let r = recall(results, truth, k: 10)
        #expect(r >= 0.9, "recall@10 \(r)")
    }

    /// IVF-PQ (100 lists, 64 4-bit subquantizers) with re-ranking of 200 reaches recall@10 ≥ 0.9
    /// at probeCount 32 (measured 0.99).
    @Test func ivfPQRecall() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try makeCollection(db, "pq", Self.data)
        let truth = try exact(c)
        try c.train(kind: .ivfPQ(listCount: 100, subquantizerCount: 64, bits: 4))
        let results = try (0..<Self.data.queryCount).map {
            try c.search(Self.data.query($0), options: SearchOptions(k: 10, probeCount: 32, rerankCount: 200))
        }
        let r = recall(results, truth, k: 10)
        #expect(r >= 0.9, "recall@10 \(r)")
    }
}

@Suite struct MutationTests {
    static let data = SyntheticDataset(count: 3000, queryCount: 10, seed: 12)

    @Test(arguments: [IndexKind.flat, .ivfFlat(listCount: 20), .ivfPQ(listCount: 20, subquantizerCount: 32, bits: 4)])
    func addUpdateRemoveThenSearch(kind: IndexKind) throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try makeCollection(db, "m", Self.data)
        if kind != .flat { try c.train(kind: kind) }
        let options = SearchOptions(k: 5, probeCount: 20, rerankCount: 100)
        // Removed ids are never returned.
        let victim = try c.search(Self.data.vector(17), options: options)[0].id
        #expect(victim == 1017)
        try c.remove(ids: [1017])
        #expect(try c.search(Self.data.vector(17), options: options).allSatisfy { $0.id != 1017 })
        #expect(!c.contains(1017))
        // Updated ids are found by their new vector.
        try c.update(id: 1500, vector: Self.data.vector(42))
        let hits = try c.search(Self.data.vector(42), options: options).prefix(2).map(\.id)
        #expect(Set(hits) == [1042, 1500])
        #expect(try c.search(Self.data.vector(500), options: options).allSatisfy { $0.id != 1500 })
        // Added after training: assigned to a list and found.
        try c.add(id: 9, vector: Self.data.query(3))
        #expect(try c.search(Self.data.query(3), options: options)[0].id == 9)
        #expect(c.count == 3000)
        // Many removals keep the lists consistent.
        try c.remove(ids: (0..<1000).map { UInt64(1000 + $0 * 2) })
        for i in stride(from: 1, to: 2000, by: 98) {  // odd slots survived
            let r = try c.search(Self.data.vector(i), options: SearchOptions(k: 1, exact: true))
            #expect(r[0].id == UInt64(1000 + i))
        }
    }

    @Test func batchSemanticsAreSequential() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try db.createCollection("b", dimension: 128)
        try c.apply([.add(id: 1, vector: Self.data.vector(0)), .remove(id: 1), .upsert(id: 2, vector: Self.data.vector(1)),
                     .update(id: 2, vector: Self.data.vector(2)), .removeIfPresent(id: 77)])
        #expect(c.count == 1)
        #expect(try c.vector(for: 2) == Self.data.vector(2))
    }

    @Test func allowFilterIsRespected() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try makeCollection(db, "f", Self.data)
        let allowed: Set<UInt64> = Set((0..<3000).filter { $0 % 10 == 3 }.map { UInt64(1000 + $0) })
        for kind in [IndexKind.flat, .ivfFlat(listCount: 20), .ivfPQ(listCount: 20, subquantizerCount: 16, bits: 4)] {
            if kind != .flat { try c.train(kind: kind) }
            for q in 0..<Self.data.queryCount {
                let r = try c.search(Self.data.query(q), options: SearchOptions(k: 10, probeCount: 20, allow: { allowed.contains($0) }))
                #expect(r.count == 10)
                #expect(r.allSatisfy { allowed.contains($0.id) })
            }
        }
    }

    @Test func badInputIsRejectedAndNothingIsWritten() throws {
        let dir = TemporaryDirectory()
        do {
            let db = try VectorDatabase(path: dir.path)
            let c = try makeCollection(db, "bad", Self.data, count: 10)
            try c.apply([.upsert(id: 5, vector: Self.data.vector(5))], watermark: 7)
            #expect(throws: VectorIndexError.dimensionMismatch(expected: 128, got: 3)) { try c.add(id: 1, vector: [1, 2, 3]) }
            var nan = Self.data.vector(0)
            nan[7] = .nan
            #expect(throws: VectorIndexError.nonFiniteComponent(id: 1)) { try c.add(id: 1, vector: nan) }
            nan[7] = .infinity
            #expect(throws: VectorIndexError.nonFiniteComponent(id: 1)) { try c.add(id: 1, vector: nan) }
            #expect(throws: VectorIndexError.duplicateID(1003)) { try c.add(id: 1003, vector: Self.data.vector(0)) }
            #expect(throws: VectorIndexError.unknownID(4)) { try c.update(id: 4, vector: Self.data.vector(0)) }
            #expect(throws: VectorIndexError.unknownID(4)) { try c.remove(ids: [4]) }
            #expect(throws: VectorIndexError.unknownCollection("nope")) { try db.collection("nope") }
            #expect(throws: VectorIndexError.collectionExists("bad")) { try db.createCollection("bad", dimension: 128) }
            #expect(throws: VectorIndexError.invalidCollectionName("a/b")) { try db.createCollection("a/b", dimension: 128) }
            #expect(throws: VectorIndexError.dimensionMismatch(expected: 128, got: 2)) { try c.search([0, 1]) }
            #expect(throws: VectorIndexError.self) { try c.train(kind: .ivfFlat(listCount: 100)) }
            // A batch with one bad mutation writes nothing, watermark included.
            #expect(throws: VectorIndexError.unknownID(999)) {
                try c.apply([.add(id: 50, vector: Self.data.vector(50)), .remove(id: 999)], watermark: 8)
            }
            #expect(c.count == 11 && !c.contains(50) && c.watermark == 7)
        }
        let reopened = try VectorDatabase(path: dir.path).collection("bad")
        #expect(reopened.count == 11 && !reopened.contains(50) && reopened.watermark == 7)
    }

    @Test func trainingPolicyConvertsPastThreshold() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try db.createCollection("p", dimension: 128,
                                        trainingPolicy: TrainingPolicy(threshold: 1000, kind: .ivfFlat(listCount: 10)))
        try c.add(ids: (0..<999).map { UInt64($0) }, vectors: (0..<999).map(Self.data.vector))
        #expect(c.kind == .flat)
        try c.add(id: 999, vector: Self.data.vector(999))
        #expect(c.kind == .ivfFlat(listCount: 10))
        #expect(try c.search(Self.data.vector(5), options: SearchOptions(k: 1, probeCount: 10))[0].id == 5)
    }

    @Test func concurrentSearchesAlongsideOneWriter() async throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try makeCollection(db, "cc", Self.data, count: 1000)
        try c.train(kind: .ivfPQ(listCount: 10, subquantizerCount: 16, bits: 4))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for i in 1000..<2000 { try? c.add(id: UInt64(1000 + i), vector: Self.data.vector(i)) }
                for i in 0..<500 { try? c.remove(ids: [UInt64(1000 + i)]) }
            }
            for t in 0..<3 {
                group.addTask {
                    for i in 0..<300 {
                        let r = try? c.search(Self.data.vector((i * 7 + t) % 1000), options: SearchOptions(k: 3, probeCount: 10))
                        assert(r?.count == 3)
                    }
                }
            }
        }
        #expect(c.count == 1500)
        #expect(try c.search(Self.data.vector(1700), options: SearchOptions(k: 1, exact: true))[0].id == 2700)
    }
}
