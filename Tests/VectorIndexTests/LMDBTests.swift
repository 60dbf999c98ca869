import Foundation
import Testing
@testable import VectorIndex

@Suite struct LMDBTests {
    @Test func mapGrowsWhenFull() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmdb-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try LMDBEnvironment(path: dir, mapSize: 1 << 20)
        let dbi = try env.openDatabase("t", create: true)
        let value = [UInt8](repeating: 7, count: 4096)
        for i in 0..<1000 {
            try env.write { txn throws(VectorIndexError) in
                try txn.put(dbi, key: withUnsafeBytes(of: UInt64(i).bigEndian) { Array($0) }, value: value)
            }
        }
        #expect(env.currentMapSize > 1 << 20)
        let n = try env.read { txn throws(VectorIndexError) in try txn.count(dbi) }
        #expect(n == 1000)
    }
}
