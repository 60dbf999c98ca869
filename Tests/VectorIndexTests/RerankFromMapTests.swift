import Foundation
import Testing
@testable import VectorIndex

/// An IVF-PQ collection that keeps its vectors in the LMDB map (the default) answers exactly as one that keeps them in
/// memory — sealed or not, after mutations, a reopen and a retraining — and holds no vector in its heap.
@Suite struct RerankFromMapTests {
    static let data = SyntheticDataset(count: 6000, queryCount: 30, seed: 77)
    static let kind = IndexKind.ivfPQ(listCount: 32, subquantizerCount: 32, bits: 4)

    /// The same history in `dir`: 5,000 adds, training, then updates, removals and adds in single calls and batches.
    static func build(_ dir: String, sealed: Bool, residence: VectorResidence) throws -> (VectorDatabase, VectorCollection) {
        let db = try open(dir, sealed: sealed, residence: residence)
        let c = try makeCollection(db, "m", data, count: 5000)
        try c.train(kind: kind)
        for i in 0..<40 {
            try c.update(id: UInt64(1000 + i), vector: data.vector(5000 + i))
            try c.remove(ids: [UInt64(2000 + i)])
        }
        try c.add(ids: (5040..<5400).map { UInt64(1000 + $0) }, vectors: (5040..<5400).map(data.vector))
        try c.apply([.upsert(id: 3000, vector: data.vector(5500)), .removeIfPresent(id: 3001), .add(id: 99, vector: data.vector(5501))])
        return (db, c)
    }

    static func open(_ dir: String, sealed: Bool, residence: VectorResidence) throws -> VectorDatabase {
        try VectorDatabase(path: dir, sealer: sealed ? XORTestSealer(key: 5) : nil, ivfPQVectors: residence)
    }

    /// Every query answers with the same ids and distances, with and without a filter, probed and exact.
    static func expectSameAnswers(_ map: VectorCollection, _ memory: VectorCollection) throws {
        #expect(map.contents == memory.contents)
        let options = [SearchOptions(k: 10, probeCount: 8, rerankCount: 50),
                       SearchOptions(k: 5, probeCount: 32, rerankCount: 400, allow: { $0 % 3 != 0 }),
                       SearchOptions(k: 10, exact: true),
                       SearchOptions(k: 3, exact: true, allow: { $0 % 2 == 0 })]
        for option in options {
            // Exact ones scan every record (opened one by one when sealed): a few queries suffice.
            for q in 0..<(option.exact ? 4 : data.queryCount) {
                let query = data.query(q)
                let a = try map.search(query, options: option), b = try memory.search(query, options: option)
                #expect(a == b, "query \(q), exact \(option.exact)")
                #expect(a.count == option.k)
            }
        }
        #expect(try map.search(batch: (0..<data.queryCount).map(data.query), threads: 2)
                    == memory.search(batch: (0..<data.queryCount).map(data.query), threads: 2))
        for id: UInt64 in [1000, 1001, 1039, 2000, 3000, 3001, 99, 6399] {
            #expect(try map.vector(for: id) == memory.vector(for: id), "id \(id)")
        }
    }

    @Test(arguments: [false, true])
    func mapAndMemoryRerankAnswerAlike(sealed: Bool) throws {
        let mapDir = TemporaryDirectory(), memoryDir = TemporaryDirectory()
        var (mapDB, map) = try Self.build(mapDir.path, sealed: sealed, residence: .map)
        var (memoryDB, memory) = try Self.build(memoryDir.path, sealed: sealed, residence: .memory)
        #expect(map.stateLock.withReadLock { !map.state.keepsVectors && map.state.vectors.isEmpty })
        #expect(memory.stateLock.withReadLock { memory.state.keepsVectors && memory.state.vectors.count == memory.count * 128 })
        try Self.expectSameAnswers(map, memory)

        // Reopened, each answers as before; the map copy still keeps no vector in memory.
        let before = map.contents
        (mapDB, memoryDB) = (try Self.open(mapDir.path, sealed: sealed, residence: .map),
                             try Self.open(memoryDir.path, sealed: sealed, residence: .memory))
        (map, memory) = (try mapDB.collection("m"), try memoryDB.collection("m"))
        #expect(map.contents == before)
        #expect(map.stateLock.withReadLock { map.state.vectors.isEmpty })
        try Self.expectSameAnswers(map, memory)

        // Retrained (the sample and every vector read back from the map), then back to flat (vectors into memory again).
        let parameters = TrainingParameters(seed: 99)
        try map.train(kind: Self.kind, parameters: parameters)
        try memory.train(kind: Self.kind, parameters: parameters)
        #expect(map.model == memory.model)
        try Self.expectSameAnswers(map, memory)
        try map.train(kind: .flat)
        try memory.train(kind: .flat)
        #expect(map.stateLock.withReadLock { map.state.keepsVectors && map.state.vectors.count == map.count * 128 })
        try Self.expectSameAnswers(map, memory)
        #expect(map.contents.digest == before.digest)
    }

    /// A candidate whose record is gone from the map (removed in LMDB, the in-memory lists not yet told) is not an answer,
    /// and a record that cannot be opened is an error, not a silent miss.
    @Test func aMissingOrUnreadableRecordIsNotAnAnswer() throws {
        let dir = TemporaryDirectory()
        let (_, c) = try Self.build(dir.path, sealed: true, residence: .map)
        let query = Self.data.query(0)
        let nearest = try #require(try c.search(query, options: SearchOptions(k: 1, probeCount: 32)).first)
        try c.environment.write { (txn) throws(VectorIndexError) in try c.storage.deleteRecord(txn, id: nearest.id) }
        let after = try c.search(query, options: SearchOptions(k: 5, probeCount: 32))
        #expect(!after.contains { $0.id == nearest.id })
        #expect(after.count == 5)

        let second = after[0].id
        try c.environment.write { (txn) throws(VectorIndexError) in
            try txn.put(c.storage.vectors, key: CollectionStorage.key(second), value: [UInt8](repeating: 7, count: 40))
        }
        #expect(throws: VectorIndexError.self) { try c.search(query, options: SearchOptions(k: 5, probeCount: 32)) }
        #expect(throws: VectorIndexError.self) { try c.vector(for: second) }
    }
}
