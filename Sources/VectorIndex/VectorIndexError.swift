import CLMDB

/// Every failure VectorIndex reports. Messages never contain vector data.
public enum VectorIndexError: Error, Equatable, Sendable, CustomStringConvertible {
    case dimensionMismatch(expected: Int, got: Int)
    case nonFiniteComponent(id: UInt64)
    case duplicateID(UInt64)
    case unknownID(UInt64)
    case unknownCollection(String)
    case collectionExists(String)
    case invalidCollectionName(String)
    case invalidArgument(String)
    case notTrained
    case corrupt(String)
    case foreignEnvironment
    case unsupportedFormatVersion(found: UInt32, supported: UInt32)
    case sealing(String)
    /// The sealer has no key for the record (`VectorSealerKeyUnavailable`): the data is intact but not openable here.
    case keyUnavailable(String)
    case lmdb(LMDBError)

    /// Whether the stored index is damaged or unreadable (rather than the call being wrong): a file that is
    /// not LMDB or is truncated, a record that fails to decode or to open, a B-tree LMDB finds inconsistent.
    /// Derived data in this state should be set aside and rebuilt.
    public var isDamage: Bool {
        switch self {
        case .corrupt, .sealing, .foreignEnvironment, .unsupportedFormatVersion: true
        case let .lmdb(error):
            [MDB_INVALID, MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_VERSION_MISMATCH, MDB_INCOMPATIBLE, MDB_BAD_VALSIZE]
                .contains(error.rawValue)
        default: false
        }
    }

    /// A stable machine-readable code for logs and API errors.
    public var code: String {
        switch self {
        case .dimensionMismatch: "dimension_mismatch"
        case .nonFiniteComponent: "non_finite_component"
        case .duplicateID: "duplicate_id"
        case .unknownID: "unknown_id"
        case .unknownCollection: "unknown_collection"
        case .collectionExists: "collection_exists"
        case .invalidCollectionName: "invalid_collection_name"
        case .invalidArgument: "invalid_argument"
        case .notTrained: "not_trained"
        case .corrupt: "corrupt_data"
        case .foreignEnvironment: "foreign_environment"
        case .unsupportedFormatVersion: "unsupported_format_version"
        case .sealing: "sealing_failed"
        case .keyUnavailable: "key_unavailable"
        case .lmdb: "storage_error"
        }
    }

    public var description: String {
        switch self {
        case let .dimensionMismatch(expected, got): "vector has \(got) components, collection expects \(expected)"
        case let .nonFiniteComponent(id): "vector \(id) has a NaN or infinite component"
        case let .duplicateID(id): "id \(id) is already in the collection"
        case let .unknownID(id): "id \(id) is not in the collection"
        case let .unknownCollection(name): "no collection named \(name)"
        case let .collectionExists(name): "a collection named \(name) already exists"
        case let .invalidCollectionName(name): "invalid collection name \(name)"
        case let .invalidArgument(why): "invalid argument: \(why)"
        case .notTrained: "the index has not been trained"
        case let .corrupt(what): "corrupt index data: \(what)"
        case .foreignEnvironment: "the LMDB environment was not written by VectorIndex"
        case let .unsupportedFormatVersion(found, supported): "index format version \(found) is newer than the supported \(supported)"
        case let .sealing(why): "sealing hook failed: \(why)"
        case let .keyUnavailable(what): "no key to open \(what)"
        case let .lmdb(error): "LMDB: \(error)"
        }
    }
}
