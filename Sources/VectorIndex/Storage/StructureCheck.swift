import CLMDB
import Foundation

extension VectorDatabase {
    /// Reads every page of the environment in `path` that a later open, load or write can reach — the free list,
    /// the main database and every named database, every key and value byte — without writing anything.
    ///
    /// LMDB trusts its file: a damaged branch or leaf page can make it dereference a bad pointer (a node flagged
    /// `F_DUPDATA` in a database without duplicates sends a cursor to a sub-cursor that does not exist) — a
    /// segmentation fault no caller can catch. Run this in a child process before opening an environment that
    /// may be damaged: if the child dies or throws, the environment is damaged; if it returns, the page walks a
    /// load and a write make have already succeeded once.
    /// - Returns: how many entries were read.
    /// - Throws: `corrupt` (truncated or inconsistent), `lmdb`; nothing when the directory holds no data file.
    /// - Complexity: O(file size).
    public static func checkStructure(path: String) throws(VectorIndexError) -> Int {
        guard FileManager.default.fileExists(atPath: path + "/data.mdb") else { return 0 }
        let environment: LMDBEnvironment
        do {
            environment = try LMDBEnvironment(path: path, mapSize: 1 << 20, readOnly: true)
        } catch .lmdb(let e) where e == .invalid || e == .versionMismatch || e == .corrupted || e == .incompatible {
            throw .corrupt("\(path) is not a readable LMDB environment (\(e.name))")
        }
        return try environment.read { (txn) throws(VectorIndexError) -> Int in
            // The free list (FREE_DBI, 0) is what a write transaction reads first.
            var entries = try walk(txn, 0)
            let main = try txn.openDatabase(nil)
            var names: [String] = []
            try txn.forEach(main) { (key, _) throws(VectorIndexError) in names.append(String(decoding: key, as: UTF8.self)) }
            entries += names.count
            for name in names {
                var dbi: MDB_dbi = 0
                let rc = mdb_dbi_open(txn.handle, name, 0, &dbi)
                // A key of the main database that is not a database (MDB_INCOMPATIBLE) is a foreign environment's.
                if rc == MDB_INCOMPATIBLE { continue }
                try check(rc, "mdb_dbi_open")
                entries += try walk(txn, dbi)
            }
            return entries
        }
    }

    /// Visits every entry of `dbi` and reads every byte of it.
    private static func walk(_ txn: borrowing LMDBTransaction, _ dbi: MDB_dbi) throws(VectorIndexError) -> Int {
        var count = 0
        var sum: UInt8 = 0
        try txn.forEach(dbi) { (key, value) throws(VectorIndexError) in
            for b in key { sum &+= b }
            for b in value { sum &+= b }
            count += 1
        }
        // Keeps the reads from being optimised away.
        if sum == 0 && count < 0 { throw .corrupt("unreachable") }
        return count
    }
}
