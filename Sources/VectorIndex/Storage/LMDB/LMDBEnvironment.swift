import CLMDB
import Foundation
import Synchronization

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
    ///   - readOnly: `MDB_RDONLY`: no write transaction, nothing written to the data file.
    public init(path: String, mapSize: Int = 64 << 20, maxDatabases: UInt32 = 4096,
                durability: Durability = .full, readOnly: Bool = false) throws(VectorIndexError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .invalidArgument("cannot create directory \(path)")
        }
        // Before LMDB maps the file: a data file shorter than its meta page says would make the first read
        // of a missing page a SIGBUS, which no caller can catch.
        try Self.checkDataFile(path + "/data.mdb")
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
            if readOnly { flags = UInt32(MDB_NOTLS) | UInt32(MDB_RDONLY) }
            try check(mdb_env_open(env, path, flags, 0o600), "mdb_env_open")
        } catch {
            mdb_env_close(env)
            throw error
        }
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        self.handle = env
        self.mapSize = max(mapSize, info.me_mapsize)
        var fd: Int32 = -1
        mdb_env_get_fd(env, &fd)
        self.fileDescriptor = fd
        mapRange.withLock { $0 = Self.locateMap(fd) }
    }

    // MARK: - Damage that must not fault

    /// The file LMDB maps; its size bounds every byte a read may touch.
    private let fileDescriptor: Int32
    /// A file size already seen (the file only grows while open, through this process's writes).
    private let knownFileSize = Mutex<Int>(0)
    /// Where the map is (`mdb_env_info`'s `me_mapaddr` is only the MDB_FIXEDMAP address, nil otherwise): start
    /// address and length, from `/proc/self/maps`; nil where that is not available, and then `checkMapped` checks
    /// only that a value is not longer than the file.
    private let mapRange = Mutex<(start: UInt, count: Int)?>(nil)

    /// The mapping of the file open as `fd`, from `/proc/self/maps` (Linux): `start-end perms offset dev inode path`.
    private static func locateMap(_ fd: Int32) -> (start: UInt, count: Int)? {
        var status = stat()
        guard fstat(fd, &status) == 0, let handle = FileHandle(forReadingAtPath: "/proc/self/maps"),
              let data = try? handle.readToEnd() else { return nil }
        try? handle.close()
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, UInt64(fields[4]) == UInt64(status.st_ino), fields[5].hasSuffix("/data.mdb") else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), end > start else {
                continue
            }
            return (start, Int(end - start))
        }
        return nil
    }

    /// Throws `corrupt` unless `count` bytes at `data` lie inside the data file, when `data` points into the
    /// memory map. Values in a write transaction's dirty pages (heap memory) pass.
    ///
    /// A damaged node can claim an overflow value longer than the file; copying it would read mapped pages
    /// past the end of the file, which faults (SIGBUS) instead of throwing.
    func checkMapped(_ data: UnsafeMutableRawPointer?, count: Int, _ what: @autoclosure () -> String) throws(VectorIndexError) {
        guard let data, count > 0 else { return }
        var offset = 0
        if let map = mapRange.withLock({ $0 }) {
            let address = UInt(bitPattern: data)
            guard address >= map.start, address - map.start < UInt(map.count) else { return }
            offset = Int(address - map.start)
        }
        let (end, overflow) = offset.addingReportingOverflow(count)
        guard !overflow else { throw .corrupt("\(what()) of \(count) bytes") }
        if end <= knownFileSize.withLock({ $0 }) { return }
        var status = stat()
        guard fstat(fileDescriptor, &status) == 0 else { throw .lmdb(LMDBError(errno, function: "fstat")) }
        let size = Int(status.st_size)
        knownFileSize.withLock { $0 = max($0, size) }
        guard end <= size else { throw .corrupt("\(what()) of \(count) bytes runs past the end of the data file") }
    }

    /// Validates the two meta pages of an existing data file with plain reads, and that the file holds
    /// every page the newer one counts (`mm_last_pg`).
    ///
    /// Layout (mdb.c, LMDB 0.9, 64-bit): pages 0 and 1 are meta pages of `psize` bytes each; a page starts
    /// with a 16-byte header (`mp_pgno` 8, `mp_pad` 2, `mp_flags` 2 with `P_META` = 0x08, 4 more), then
    /// `MDB_meta`: `mm_magic` (0xBEEFC0DE) and `mm_version` (1) as UInt32, `mm_address`, `mm_mapsize`, two
    /// 48-byte `MDB_db` (the first one's `md_pad` is `mm_psize`), `mm_last_pg`, `mm_txnid`. LMDB itself
    /// rejects bad magic or version (`MDB_INVALID`, `MDB_VERSION_MISMATCH`), but maps a truncated file
    /// without a word: the first read of a page past its end is a SIGBUS.
    static func checkDataFile(_ file: String) throws(VectorIndexError) {
        guard let handle = FileHandle(forReadingAtPath: file) else { return }  // absent: a new environment
        defer { try? handle.close() }
        let size: UInt64
        let first: Data
        do {
            size = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
            first = try handle.read(upToCount: 160) ?? Data()
        } catch {
            throw .corrupt("\(file) cannot be read")
        }
        // An empty file is a new environment to LMDB; a short or foreign one it rejects itself (MDB_INVALID).
        guard let meta0 = Meta(first) else { return }
        guard meta0.pageSize >= 512, meta0.pageSize <= 65536, meta0.pageSize & (meta0.pageSize - 1) == 0 else {
            throw .corrupt("\(file) has a meta page with a page size of \(meta0.pageSize)")
        }
        let second: Data
        do {
            try handle.seek(toOffset: UInt64(meta0.pageSize))
            second = try handle.read(upToCount: 160) ?? Data()
        } catch {
            throw .corrupt("\(file) cannot be read")
        }
        guard let meta1 = Meta(second) else { return }  // LMDB answers MDB_INVALID
        let current = meta1.txnid > meta0.txnid ? meta1 : meta0
        let (pages, overflow1) = current.lastPage.addingReportingOverflow(1)
        let (needed, overflow2) = pages.multipliedReportingOverflow(by: UInt64(meta0.pageSize))
        guard !overflow1, !overflow2, needed <= size else {
            throw .corrupt("\(file) is truncated: \(size) bytes, its meta page counts \(current.lastPage &+ 1) pages of \(meta0.pageSize)")
        }
    }

    /// The fields of an LMDB meta page that `checkDataFile` needs; nil when it is not one.
    private struct Meta {
        var pageSize: Int
        var lastPage: UInt64
        var txnid: UInt64

        init?(_ page: Data) {
            guard page.count >= 152 else { return nil }
            let bytes = [UInt8](page)
            func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
            func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
            func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
            guard u16(10) & 0x08 != 0, u32(16) == 0xBEEF_C0DE, u32(20) == 1 else { return nil }
            pageSize = Int(u32(40))
            lastPage = u64(136)
            txnid = u64(144)
        }
    }

    deinit {
        mdb_env_close(handle)
    }

    /// The current map size in bytes.
    public var currentMapSize: Int { resizeLock.withReadLock { mapSize } }

    /// Runs `body` in a read-only transaction, aborted when `body` returns.
    public func read<R>(_ body: (borrowing LMDBTransaction) throws(VectorIndexError) -> R) throws(VectorIndexError) -> R {
        try resizeLock.withReadLock { () throws(VectorIndexError) -> R in
            let txn = try LMDBTransaction(environment: self, readOnly: true)
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
                    let txn = try LMDBTransaction(environment: self, readOnly: false)
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
            // The file is mapped again, maybe elsewhere.
            mapRange.withLock { $0 = Self.locateMap(fileDescriptor) }
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
