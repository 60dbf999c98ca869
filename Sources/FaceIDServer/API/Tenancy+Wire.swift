import Foundation
import Hummingbird

// Request and response bodies. Property names are camelCase here and snake_case on the wire (`APIJSON`).

struct RegisterRequest: Decodable {
    var companyName: String
    var email: String
    var password: String
    var fullName: String?
}

struct LoginRequest: Decodable {
    var email: String
    var password: String
}

struct CompanyView: ResponseEncodable, Sendable {
    var id: Int64
    var name: String
    var createdAt: String

    init(_ record: CompanyRecord) {
        id = record.id!
        name = record.name
        createdAt = Timestamp.format(record.createdAt)
    }
}

struct UserView: ResponseEncodable, Sendable {
    var id: Int64
    var email: String
    var fullName: String
    var role: Role
    var disabled: Bool
    var createdAt: String

    init(_ record: UserRecord) {
        id = record.id!
        email = record.email
        fullName = record.fullName
        role = record.role
        disabled = record.disabled
        createdAt = Timestamp.format(record.createdAt)
    }
}

struct SessionResponse: ResponseEncodable, Sendable {
    var success = true
    var token: String
    var expiresAt: String
    var user: UserView
    var company: CompanyView

    init(_ started: Auth.Session) {
        token = started.token
        expiresAt = Timestamp.format(started.session.expiresAt)
        user = UserView(started.user)
        company = CompanyView(started.company)
    }
}

/// The console's sign-in and current session: the CSRF token to send back, never the session token (it is in the cookie).
struct ConsoleSessionView: ResponseEncodable, Sendable {
    var success = true
    var csrfToken: String
    var expiresAt: String
    var user: UserView
    var company: CompanyView
    /// The caller's grants in the permission matrix (`read_persons`, `manage_persons`, …).
    var permissions: [String]
    /// Every role's grants (`Permission`'s matrix, the one the server enforces).
    var roles: [String: [String]]
}

struct MeResponse: ResponseEncodable, Sendable {
    var success = true
    var company: CompanyView
    var user: UserView?
    var apiKey: APIKeyView?
    var deviceId: Int64?
}

struct CreateUserRequest: Decodable {
    var email: String
    var password: String
    var fullName: String?
    var role: Role
}

struct UpdateUserRequest: Decodable {
    var role: Role?
    var disabled: Bool?
    var fullName: String?
}

struct UserResponse: ResponseEncodable, Sendable {
    var success = true
    var user: UserView
}

struct UserList: ResponseEncodable, Sendable {
    var success = true
    var users: [UserView]
}

struct CreateAPIKeyRequest: Decodable {
    var name: String
    var scopes: [String]
}

struct APIKeyView: ResponseEncodable, Sendable {
    var id: Int64
    var name: String
    var prefix: String
    var scopes: [String]
    var createdAt: String
    var createdBy: String
    var lastUsedAt: String?
    var revokedAt: String?

    init(_ record: APIKeyRecord) {
        id = record.id!
        name = record.name
        prefix = record.prefix
        scopes = record.scopes.split(separator: ",").map(String.init)
        createdAt = Timestamp.format(record.createdAt)
        createdBy = record.createdBy
        lastUsedAt = record.lastUsedAt.map(Timestamp.format)
        revokedAt = record.revokedAt.map(Timestamp.format)
    }
}

struct CreatedAPIKey: ResponseEncodable, Sendable {
    var success = true
    var apiKey: APIKeyView
    /// The whole key: shown in this response only.
    var key: String
}

struct APIKeyList: ResponseEncodable, Sendable {
    var success = true
    var apiKeys: [APIKeyView]
}

struct CreateDeviceRequest: Decodable {
    var name: String
    var location: String?
}

struct DeviceView: ResponseEncodable, Sendable {
    var id: Int64
    var name: String
    var location: String
    var createdAt: String
    /// When the kiosk last acknowledged the feed, and the position it acknowledged (null: never).
    var lastAckAt: String?
    var acknowledged: Int64?
    /// Feed positions past its acknowledgement (0: up to date; null: never acknowledged). In `GET /devices` only.
    var behind: Int64?

    init(_ record: DeviceRecord, feedHead: Int64? = nil) {
        id = record.id!
        name = record.name
        location = record.location
        createdAt = Timestamp.format(record.createdAt)
        lastAckAt = record.ackedAt.map(Timestamp.format)
        acknowledged = record.ackedSeq
        if let feedHead, let acked = record.ackedSeq { behind = max(0, feedHead - acked) }
    }
}

struct DeviceResponse: ResponseEncodable, Sendable {
    var success = true
    var device: DeviceView
}

struct DeviceList: ResponseEncodable, Sendable {
    var success = true
    var devices: [DeviceView]
    /// The company feed's last position, what `behind` is measured from.
    var feedHead: Int64
}

struct SettingsResponse: ResponseEncodable, Sendable {
    var success = true
    var settings: CompanySettings
}

struct AuditEventView: ResponseEncodable, Sendable {
    var id: Int64
    var at: String
    var actor: String
    var action: String
    var target: String
    var remoteAddress: String
    var userAgent: String
    var detail: [String: String]

    init(_ record: AuditRecord) {
        id = record.id!
        at = Timestamp.format(micros: record.atMicros)
        actor = record.actor
        action = record.action
        target = record.target
        remoteAddress = record.remoteAddress
        userAgent = record.userAgent
        detail = (try? JSONDecoder().decode([String: String].self, from: Data(record.detail.utf8))) ?? [:]
    }
}

struct AuditPage: ResponseEncodable, Sendable {
    var success = true
    var events: [AuditEventView]
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    var nextCursor: String?
}

struct AuditVerification: ResponseEncodable, Sendable {
    var success = true
    /// The chain's links all hold and its newest event is the signed head's (or newer, chained to it).
    var intact: Bool
    var eventCount: Int
    var firstBrokenId: Int64?
    var head: AuditHeadView
}

/// `anchored`, `empty`, or what is wrong: `missing`, `invalid`, `truncated` (newest events deleted), `mismatch`.
struct AuditHeadView: Encodable, Sendable {
    var status: String
    /// Events committed after the head was last recorded (a crash between a commit and the head's update).
    var eventsAfterHead: Int
}

struct OK: ResponseEncodable, Sendable {
    var success = true
}

// MARK: Persons and groups
