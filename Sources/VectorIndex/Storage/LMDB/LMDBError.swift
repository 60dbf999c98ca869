import CLMDB

/// An LMDB result code as a value you can `switch` on (GRDB's `ResultCode` pattern).
public struct LMDBError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The raw return code of the failed `mdb_*` call (an LMDB code or an `errno`).
    public let rawValue: Int32
    /// The LMDB function that failed, for diagnostics.
    public let function: String

    public init(_ rawValue: Int32, function: String = "") {
        self.rawValue = rawValue
        self.function = function
    }

    public static let keyExists = LMDBError(MDB_KEYEXIST)
    public static let notFound = LMDBError(MDB_NOTFOUND)
    public static let mapFull = LMDBError(MDB_MAP_FULL)
    public static let dbsFull = LMDBError(MDB_DBS_FULL)
    public static let invalid = LMDBError(MDB_INVALID)
    public static let versionMismatch = LMDBError(MDB_VERSION_MISMATCH)
    public static let corrupted = LMDBError(MDB_CORRUPTED)
    public static let incompatible = LMDBError(MDB_INCOMPATIBLE)
    public static let readersFull = LMDBError(MDB_READERS_FULL)
    public static let mapResized = LMDBError(MDB_MAP_RESIZED)

    /// Codes compare by value only; `function` is context.
    public static func == (lhs: LMDBError, rhs: LMDBError) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    /// A stable name for the code.
    public var name: String {
        switch rawValue {
        case MDB_KEYEXIST: "MDB_KEYEXIST"
        case MDB_NOTFOUND: "MDB_NOTFOUND"
        case MDB_MAP_FULL: "MDB_MAP_FULL"
        case MDB_DBS_FULL: "MDB_DBS_FULL"
        case MDB_INVALID: "MDB_INVALID"
        case MDB_VERSION_MISMATCH: "MDB_VERSION_MISMATCH"
        case MDB_CORRUPTED: "MDB_CORRUPTED"
        case MDB_INCOMPATIBLE: "MDB_INCOMPATIBLE"
        case MDB_READERS_FULL: "MDB_READERS_FULL"
        case MDB_MAP_RESIZED: "MDB_MAP_RESIZED"
        case MDB_PAGE_NOTFOUND: "MDB_PAGE_NOTFOUND"
        case MDB_BAD_TXN: "MDB_BAD_TXN"
        case MDB_BAD_VALSIZE: "MDB_BAD_VALSIZE"
        case MDB_BAD_DBI: "MDB_BAD_DBI"
        default: "errno \(rawValue)"
        }
    }

    public var description: String {
        function.isEmpty ? name : "\(function): \(name)"
    }
}

/// Throws `VectorIndexError.lmdb` for any non-zero LMDB return code.
@inline(__always)
func check(_ rc: Int32, _ function: @autoclosure () -> String) throws(VectorIndexError) {
    if rc != 0 { throw .lmdb(LMDBError(rc, function: function())) }
}
