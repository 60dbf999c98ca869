import Foundation
import GRDB

// The rows of the store. Column names are the property names; `Store+Migrations.swift` creates them.

struct CompanyRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "companies"
    var id: Int64?
    var name: String
    /// The company's AES-256 data key, wrapped under the master key and its secret in the key vault (`KeyRing`).
    var wrappedKey: Data
    /// `CompanySettings` as JSON.
    var settings: String
    var createdAt: Date

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// What stays of a deleted company (`DELETE /company`): that it existed, when it was deleted and by whom. Nothing else:
/// its name is the only personal-looking datum, and it names the customer, not a data subject.
struct DeletedCompanyRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "deletedCompanies"
    var id: Int64
    var name: String
    var createdAt: Date
    var requestedAt: Date
    /// `user:<id>|<email>` of the owner who asked.
    var requestedBy: String
    /// Nil while the deletion is under way (a restart finishes it).
    var completedAt: Date?
}

struct UserRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "users"
    var id: Int64?
    var companyID: Int64
    var email: String
    /// bcrypt.
    var passwordHash: String
    var fullName: String
    var role: Role
    var disabled: Bool
    var createdAt: Date

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct SessionRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "sessions"
    var id: Int64?
    var companyID: Int64
    var userID: Int64
    /// SHA-256 of the token; the token itself is never stored.
    var tokenHash: Data
    var createdAt: Date
    var expiresAt: Date
    var revokedAt: Date?

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct APIKeyRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "apiKeys"
    var id: Int64?
    var companyID: Int64
    var name: String
    /// The recognisable, non-secret start of the key (`fid_ab12cd34`), shown in listings.
    var prefix: String
    /// SHA-256 of the whole key.
    var secretHash: Data
    /// Comma-separated `Scope` raw values.
    var scopes: String
    var createdAt: Date
    var createdBy: String
    var lastUsedAt: Date?
    var revokedAt: Date?

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    var scopeSet: Set<Scope> { Set(scopes.split(separator: ",").compactMap { Scope(rawValue: String($0)) }) }
}

struct DeviceRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "devices"
    var id: Int64?
    var companyID: Int64
    var name: String
    var location: String
    var createdAt: Date
    /// The last feed position the kiosk acknowledged having applied (`POST /api/devices/{id}/ack`).
    var ackedSeq: Int64? = nil
    var ackedAt: Date? = nil

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct AuditRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "auditEvents"
    var id: Int64?
    var companyID: Int64
    /// Microseconds since 1970 (an integer, so the hash chain reproduces exactly).
    var atMicros: Int64
    /// `user:3`, `api_key:7|device:2`, `anonymous`.
    var actor: String
    var action: String
    /// `user:5`, `api_key:9`, … or empty.
    var target: String
    var remoteAddress: String
    var userAgent: String
    /// A short JSON object with action-specific facts (never secrets or biometric data).
    var detail: String
    /// SHA-256 of the previous event of the same company (32 zero bytes for the first).
    var previousHash: Data
    /// SHA-256 over this event's fields and `previousHash` (`AuditLog.hash`).
    var hash: Data

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct GroupRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "groups"
    var id: Int64?
    var companyID: Int64
    var name: String
    var description: String
    var createdAt: Date

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A person of a company: who a face belongs to. Names, tags and metadata are personal data but not
/// biometric; they are stored in the clear so they can be filtered.
/// A person's recorded consent to the processing of their biometric data.
struct ConsentRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "consents"
    var personID: Int64
    var companyID: Int64
    var obtainedAt: Date
    /// `written` or `electronic`.
    var method: String
    /// The version of the consent document the person agreed to.
    var documentVersion: String
    /// Who recorded it (`user:3`, `api_key:7`).
    var recordedBy: String
    var recordedAt: Date
}

struct PersonRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "persons"
    var id: Int64?
    var companyID: Int64
    /// The company's own id for the person (payroll number), unique within the company.
    var externalID: String?
    var fullName: String
    /// JSON array of strings.
    var tags: String
    /// JSON object, as the client sent it.
    var metadata: String
    var createdAt: Date
    var updatedAt: Date
    /// The payroll time clock's id for the employee, unique within the company.
    var timekeeperID: String? = nil
    /// Set when the employee was deleted or resigned: the record stays for payroll, the faces are gone.
    var deletedAt: Date? = nil
    /// When the face data was last deleted (kiosk or face delete): a registration older than this is stale.
    var faceDeletedAt: Date? = nil

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Membership of a person in a group (both of one company).
struct PersonGroupRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "personGroups"
    var personID: Int64
    var groupID: Int64
    var companyID: Int64
}

/// One enrolled face: its 128-d encoding sealed with the company key (record id `face:<id>`).
struct FaceRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "faces"
    var id: Int64?
    var companyID: Int64
    var personID: Int64
    /// `Sealer.seal` of the float32 little-endian encoding.
    var sealedEncoding: Data
    /// The model that made the encoding (`dlib-resnet-v1`).
    var modelID: String
    /// `photo`, `import` or `kiosk`.
    var source: String
    var reference: Bool
    var createdAt: Date
    /// When a kiosk registered it (its clock, never later than `createdAt`); nil = `createdAt`.
    var registeredAt: Date? = nil

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One recognition attempt (`POST /face/search`).
struct AccessRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "accessLog"
    var id: Int64?
    var companyID: Int64
    var atMicros: Int64
    var actor: String
    var deviceID: Int64?
    var location: String
    /// Hex SHA-256 of the probe photo's bytes.
    var probeSHA256: String
    /// `match`, `ambiguous`, `unknown`, `no_face` (for several faces: the first face's).
    var decision: String
    /// The matched person (decision `match`), else the nearest one.
    var personID: Int64?
    var distance: Double?
    var faceCount: Int
    var latencyMs: Double

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension TableRecord where Self: FetchableRecord {
    /// The company's row `id`, or nil: another company's id finds nothing, like a missing one.
    static func owned(_ id: Int64, companyID: Int64, db: Database) throws -> Self? {
        try filter(Column("id") == id && Column("companyID") == companyID).fetchOne(db)
    }
}
