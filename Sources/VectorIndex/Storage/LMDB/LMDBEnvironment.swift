import CLMDB
import Foundation

/// Owns one LMDB environment handle (`MDB_env`); exactly one `deinit` closes it.
///
/// Transactions are closure-scoped and synchronous, so none can live across an `await`. Write
/// transactions are serialised by LMDB itself; the environment additionally holds a
/// readers-writer lock so that it can grow the map (`mdb_env_set_mapsize` "may only be called if
/// no transactions are active in this process") when a write fails with `MDB_MAP_FULL`.
public final class LMDBEnvironment: @unchecked Sendable {
    // @unchecked Sendable: the handle is only used under `resizeLock`; LMDB is thread-safe with MDB_NOTLS.
    let handle: OpaquePointer
    private let resizeLock = ReadWriteLock()
    private var mapSize: Int

    /// How much LMDB flushes at commit.
    public enum Durability: Sendable {
        /// `fsync` data and meta page at every commit (ACID).
        case full
        /// `MDB_NOMETASYNC`: a system crash may undo the last transaction but never corrupts.
        case noMetaSync
        /// `MDB_WRITEMAP | MDB_NOSYNC | MDB_MAPASYNC`: commits write into the shared map and the OS
        /// decides when to flush it — for derived data that can be rebuilt (the file is sparse and
        /// as large as the map).
        case noSync
    }

    /// Opens (creating when absent) the environment in the directory `path`.
    /// - Parameters:
    ///   - mapSize: the initial map size in bytes; it doubles whenever a write fills it.
    ///   - maxDatabases: how many named databases the environment may hold.
    public init(path: String, mapSize: Int = 64 << 20, maxDatabases: UInt32 = 4096,
                durability: Durability = .full) throws(VectorIndexError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .invalidArgument("cannot create directory \(path)")
        }
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw .lmdb(LMDBError(ENOMEM, function: "mdb_env_create")) }
        // "If this function fails, mdb_env_close() must be called to discard the MDB_env handle."
        // (lmdb.h, mdb_env_open) — the same holds for every set-up call before it.
        do throws(VectorIndexError) {
            try check(mdb_env_set_maxdbs(env, maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
            try check(mdb_env_set_maxreaders(env, 512), "mdb_env_set_maxreaders")
            var flags = UInt32(MDB_NOTLS)
            switch durability {
            case .full: break
            case .noMetaSync: flags |= UInt32(MDB_NOMETASYNC)
            case .noSync: flags |= UInt32(MDB_NOSYNC) | UInt32(MDB_WRITEMAP) | UInt32(MDB_MAPASYNC)
            }
            try check(mdb_env_open(env, path, flags, 0o600), "mdb_env_open")
        } catch {
            mdb_env_close(env)
            throw error
        }
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        self.handle = env
        self.mapSize = max(mapSize, info.me_mapsize)
    }

    deinit {
        mdb_env_close(handle)
    }

    /// The current map size in bytes.
    public var currentMapSize: Int { resizeLock.withReadLock { mapSize } }

    /// Runs `body` in a read-only transaction, aborted when `body` returns.
    public func read<R>(_ body: (borrowing LMDBTransaction) throws(VectorIndexError) -> R) throws(VectorIndexError) -> R {
        try resizeLock.withReadLock { () throws(VectorIndexError) -> R in
            let txn = try LMDBTransaction(env: handle, readOnly: true)
            let result: R
            do throws(VectorIndexError) {
                result = try body(txn)
            } catch {
                txn.abort()
                throw error
            }
            txn.abort()
            return result
        }
    }

    /// Runs `body` in a write transaction and commits it; any error aborts it, so nothing is
    /// half-written. When the map is full the transaction is aborted, the map doubled, and
    /// `body` runs again — it must therefore not have side effects outside the transaction.
    public func write<R>(_ body: (borrowing LMDBTransaction) throws(VectorIndexError) -> R) throws(VectorIndexError) -> R {
        while true {
            do throws(VectorIndexError) {
                return try resizeLock.withReadLock { () throws(VectorIndexError) -> R in
                    let txn = try LMDBTransaction(env: handle, readOnly: false)
                    let result: R
                    do throws(VectorIndexError) {
                        result = try body(txn)
                    } catch {
                        txn.abort()
                        throw error
                    }
                    try txn.commit()
                    return result
                }
            } catch {
                guard case .lmdb(let e) = error, e == .mapFull else { throw error }
                try growMap()
            }
        }
    }

    private func growMap() throws(VectorIndexError) {
        try resizeLock.withWriteLock { () throws(VectorIndexError) in
            let newSize = mapSize * 2
            try check(mdb_env_set_mapsize(handle, newSize), "mdb_env_set_mapsize")
            mapSize = newSize
        }
    }

    /// Opens (creating when `create`) the named database `name`, in its own short transaction.
    /// Database handles stay valid for the environment's lifetime.
    func openDatabase(_ name: String, create: Bool) throws(VectorIndexError) -> MDB_dbi {
        try write { (txn) throws(VectorIndexError) -> MDB_dbi in
            try txn.openDatabase(name, create: create)
        }
    }

    /// Flushes the data to disk (used after writes with relaxed durability).
    public func sync() throws(VectorIndexError) {
        try check(mdb_env_sync(handle, 1), "mdb_env_sync")
    }
}
