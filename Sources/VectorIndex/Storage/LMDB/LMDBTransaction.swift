import CLMDB
import Foundation

/// An LMDB transaction. Non-copyable and only lent to closures by `LMDBEnvironment`, so it
/// cannot escape, be committed twice, or cross an `await`.
public struct LMDBTransaction: ~Copyable {
    let handle: OpaquePointer
    /// Bounds the values handed out (see `LMDBEnvironment.checkMapped`).
    let environment: LMDBEnvironment

    init(environment: LMDBEnvironment, readOnly: Bool) throws(VectorIndexError) {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(environment.handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn), "mdb_txn_begin")
        guard let txn else { throw .lmdb(LMDBError(EINVAL, function: "mdb_txn_begin")) }
        handle = txn
        self.environment = environment
    }

    consuming func commit() throws(VectorIndexError) {
        // "The transaction handle is freed. It and its cursors must not be used again after this
        // call, except with mdb_cursor_renew()." — even when the commit fails.
        try check(mdb_txn_commit(handle), "mdb_txn_commit")
    }

    consuming func abort() {
        mdb_txn_abort(handle)
    }

    /// Opens the unnamed main database, whose keys are the names of the named databases.
    func openDatabase(_ name: String?) throws(VectorIndexError) -> MDB_dbi {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(handle, name, 0, &dbi), "mdb_dbi_open")
        return dbi
    }

    /// Opens a named database; a missing one throws `unknownCollection(name)` unless `create`.
    /// The handle becomes valid for the environment when this write transaction commits.
    func openDatabase(_ name: String, create: Bool) throws(VectorIndexError) -> MDB_dbi {
        var dbi: MDB_dbi = 0
        let rc = mdb_dbi_open(handle, name, create ? UInt32(MDB_CREATE) : 0, &dbi)
        if rc == MDB_NOTFOUND { throw .unknownCollection(name) }
        try check(rc, "mdb_dbi_open")
        return dbi
    }

    /// Calls `body` with the stored bytes for `key`, or returns nil when absent.
    /// - Warning: the buffer points into the memory map; it must not escape `body`.
    func get<R>(_ dbi: MDB_dbi, key: some ContiguousBytes,
                _ body: (UnsafeRawBufferPointer) throws(VectorIndexError) -> R) throws(VectorIndexError) -> R? {
        var value = MDB_val()
        let rc = key.withUnsafeBytes { k -> Int32 in
            var keyVal = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            return mdb_get(handle, dbi, &keyVal, &value)
        }
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get")
        try environment.checkMapped(value.mv_data, count: value.mv_size, "a stored value")
        return try body(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
    }

    /// Stores `value` under `key`, replacing what was there.
    func put(_ dbi: MDB_dbi, key: some ContiguousBytes, value: some ContiguousBytes) throws(VectorIndexError) {
        let rc = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                var keyVal = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
                var val = MDB_val(mv_size: v.count, mv_data: UnsafeMutableRawPointer(mutating: v.baseAddress))
                return mdb_put(handle, dbi, &keyVal, &val, 0)
            }
        }
        try check(rc, "mdb_put")
    }

    /// Deletes `key`; returns false when it was absent.
    @discardableResult
    func delete(_ dbi: MDB_dbi, key: some ContiguousBytes) throws(VectorIndexError) -> Bool {
        let rc = key.withUnsafeBytes { k in
            var keyVal = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            return mdb_del(handle, dbi, &keyVal, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del")
        return true
    }

    /// Empties the database (`del == false`) or deletes it from the environment (`del == true`).
    func drop(_ dbi: MDB_dbi, delete del: Bool) throws(VectorIndexError) {
        try check(mdb_drop(handle, dbi, del ? 1 : 0), "mdb_drop")
    }

    /// Visits every entry in key order.
    /// - Warning: both buffers point into the memory map; they must not escape `body`.
    func forEach(_ dbi: MDB_dbi,
                 _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(VectorIndexError) -> Void) throws(VectorIndexError) {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(handle, dbi, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val(), value = MDB_val()
        var op = MDB_FIRST
        while true {
            let rc = mdb_cursor_get(cursor, &key, &value, op)
            if rc == MDB_NOTFOUND { return }
            try check(rc, "mdb_cursor_get")
            try environment.checkMapped(key.mv_data, count: key.mv_size, "a stored key")
            try environment.checkMapped(value.mv_data, count: value.mv_size, "a stored value")
            try body(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                     UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
            op = MDB_NEXT
        }
    }

    /// The number of entries in the database.
    func count(_ dbi: MDB_dbi) throws(VectorIndexError) -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(handle, dbi, &stat), "mdb_stat")
        return stat.ms_entries
    }
}
