import Foundation
import Testing
@testable import VectorIndex

/// An IVF-PQ collection that keeps its vectors in the map reopens from its list blocks — no record read one by one — and
/// comes back exactly as it was; a store without blocks (or with blocks that do not match its records) is read record by
/// record once and gets them.
@Suite struct ListBlockTests {
    typealias Fixture = RerankFromMapTests

    @Test(arguments: [false, true])
    func reopenReadsTheBlocksAndNoRecord(sealed: Bool) throws {
        let dir = TemporaryDirectory(), memoryDir = TemporaryDirectory()
        let (_, built) = try Fixture.build(dir.path, sealed: sealed, residence: .map)
        let (_, memory) = try Fixture.build(memoryDir.path, sealed: sealed, residence: .memory)
        let contents = built.contents
        let reopened = try Fixture.open(dir.path, sealed: sealed, residence: .map).collection("m")
        #expect(reopened.recordsReadAtOpen == 0)
        #expect(!reopened.listBlocksStale)
        #expect(reopened.contents == contents)
        try Fixture.expectSameAnswers(reopened, memory)
        // Each list holds what it held before the reopen (ids and codes, in order).
        let (a, b) = (built.stateLock.withReadLock { built.state.lists }, reopened.stateLock.withReadLock { reopened.state.lists })
        #expect(a.map(\.ids) == b.map(\.ids) && a.map(\.codes) == b.map(\.codes))
        // Mutations after a block reopen keep the blocks current (the next reopen is block-read too).
        try reopened.remove(ids: [1000, 1001])
        try reopened.apply([.add(id: 7, vector: Fixture.data.vector(5990)), .update(id: 1002, vector: Fixture.data.vector(5991))])
        try memory.remove(ids: [1000, 1001])
        try memory.apply([.add(id: 7, vector: Fixture.data.vector(5990)), .update(id: 1002, vector: Fixture.data.vector(5991))])
        let again = try Fixture.open(dir.path, sealed: sealed, residence: .map).collection("m")
        #expect(again.recordsReadAtOpen == 0)
        let (live, stored) = (reopened.stateLock.withReadLock { reopened.state.lists }, again.stateLock.withReadLock { again.state.lists })
        #expect(live.map(\.ids) == stored.map(\.ids) && live.map(\.codes) == stored.map(\.codes), "blocks written by the commits")
        #expect(again.contents == memory.contents)
        try Fixture.expectSameAnswers(again, memory)
    }

    /// A store written before the blocks existed (none, no marker), or one whose blocks do not match its records: the open
    /// reads the records, answers as usual, and writes the blocks for the next open.
    @Test func missingOrMismatchedBlocksAreReadPastAndRewritten() throws {
        let dir = TemporaryDirectory(), memoryDir = TemporaryDirectory()
        let (_, built) = try Fixture.build(dir.path, sealed: false, residence: .map)
        let (_, memory) = try Fixture.build(memoryDir.path, sealed: false, residence: .memory)
        try built.environment.write { (txn) throws(VectorIndexError) in try built.storage.dropLists(txn) }
        let upgraded = try Fixture.open(dir.path, sealed: false, residence: .map).collection("m")
        #expect(upgraded.recordsReadAtOpen == upgraded.count)
        #expect(upgraded.listBlocksStale)
        try Fixture.expectSameAnswers(upgraded, memory)
        #expect(try Fixture.open(dir.path, sealed: false, residence: .map).collection("m").recordsReadAtOpen == 0)

        // One block lost (the marker still says complete): the sizes no longer add up.
        try upgraded.environment.write { (txn) throws(VectorIndexError) in
            var first: [UInt8] = []
            try txn.forEach(upgraded.storage.lists) { (key, _) throws(VectorIndexError) in if first.isEmpty { first = Array(key) } }
            try txn.delete(upgraded.storage.lists, key: first)
        }
        let healed = try Fixture.open(dir.path, sealed: false, residence: .map).collection("m")
        #expect(healed.recordsReadAtOpen == healed.count)
        try Fixture.expectSameAnswers(healed, memory)
        #expect(try Fixture.open(dir.path, sealed: false, residence: .map).collection("m").recordsReadAtOpen == 0)
    }

    /// An environment of format 1 (no blocks) is marked 2 when opened, and its IVF-PQ collection gets its blocks.
    @Test func aFormatOneEnvironmentIsUpgraded() throws {
        let dir = TemporaryDirectory()
        do {
            let (_, c) = try Fixture.build(dir.path, sealed: false, residence: .map)
            try c.environment.write { (txn) throws(VectorIndexError) in try c.storage.dropLists(txn) }
        }
        func version() throws -> UInt32 {
            let env = try LMDBEnvironment(path: dir.path)
            let dbi = try env.openDatabase(Catalog.databaseName, create: false)
            return try env.read { (txn) throws(VectorIndexError) -> UInt32 in
                try txn.get(dbi, key: Array("format".utf8)) { $0.loadUnaligned(fromByteOffset: Catalog.magic.utf8.count, as: UInt32.self) }!
            }
        }
        try writeFormatVersion(1, at: dir.path)
        #expect(try version() == 1)
        let db = try Fixture.open(dir.path, sealed: false, residence: .map)
        #expect(try version() == Catalog.formatVersion && Catalog.formatVersion == 2)
        #expect(try db.collection("m").recordsReadAtOpen > 0)
        #expect(try Fixture.open(dir.path, sealed: false, residence: .map).collection("m").recordsReadAtOpen == 0)
    }

    /// Retrained to flat, the blocks go; the flat collection reopens from its records.
    @Test func aFlatCollectionHasNoBlocks() throws {
        let dir = TemporaryDirectory()
        let (_, c) = try Fixture.build(dir.path, sealed: false, residence: .map)
        try c.train(kind: .flat)
        let hasBlocks = try c.environment.read { (txn) throws(VectorIndexError) in
            (try c.storage.hasListBlocks(txn), try txn.count(c.storage.lists))
        }
        #expect(hasBlocks == (false, 0))
        let reopened = try Fixture.open(dir.path, sealed: false, residence: .map).collection("m")
        #expect(reopened.kind == .flat && reopened.contents == c.contents && reopened.recordsReadAtOpen == c.count)
    }
}
