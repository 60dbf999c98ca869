import Foundation
import HTTPTypes

/// Every error the API answers with, in one table: status, stable code, message.
extension APIError {
    // MARK: 400

    static func invalidJSON(_ detail: String?) -> APIError {
        APIError(.badRequest, code: "invalid_json", "The request body is not valid JSON", detail: detail)
    }
    static func invalidField(_ field: String, _ detail: String) -> APIError {
        APIError(.badRequest, code: "invalid_field", "Invalid value for field '\(field)'", detail: detail)
    }
    static func missingField(_ field: String) -> APIError {
        APIError(.badRequest, code: "missing_field", "Missing required field '\(field)'")
    }
    static func weakPassword(minimum: Int) -> APIError {
        APIError(.badRequest, code: "weak_password", "The password must have at least \(minimum) characters")
    }
    static func invalidScope(_ scope: String) -> APIError {
        APIError(.badRequest, code: "invalid_scope", "Unknown API key scope '\(scope)'",
                 detail: "Known scopes: " + Scope.allCases.map(\.rawValue).joined(separator: ", "))
    }
    static func invalidQuery(_ name: String, _ detail: String) -> APIError {
        APIError(.badRequest, code: "invalid_query", "Invalid query parameter '\(name)'", detail: detail)
    }
    static let sessionRequired = APIError(.badRequest, code: "session_required", "Only a session token can log out")

    // MARK: 401, 403

    static let missingCredentials = APIError(.unauthorized, code: "missing_credentials", "Authentication credentials were not provided")
    static let invalidToken = APIError(.unauthorized, code: "invalid_token", "Invalid, expired or revoked credentials")
    static let invalidLogin = APIError(.unauthorized, code: "invalid_login", "Invalid email or password")
    static let unknownDevice = APIError(.unauthorized, code: "unknown_device", "X-Device-Id does not name a registered device of this company")
    static let forbidden = APIError(.forbidden, code: "forbidden", "Your role or API key scope does not allow this action")

    // MARK: 404, 405, 409, 413

    static func notFound(_ what: String) -> APIError {
        APIError(.notFound, code: "not_found", "\(what) not found")
    }
    static let routeNotFound = APIError(.notFound, code: "route_not_found", "No such endpoint")
    /// A known path asked with a method it does not serve; `Allow` lists the ones it does.
    static func methodNotAllowed(allow: [String]) -> APIError {
        var error = APIError(.methodNotAllowed, code: "method_not_allowed", "Method not allowed on this endpoint",
                             detail: "allowed: " + allow.joined(separator: ", "))
        error.headers[.allow] = allow.joined(separator: ", ")
        return error
    }
    static let emailTaken = APIError(.conflict, code: "email_taken", "An account with this email already exists")
    static let lastOwner = APIError(.conflict, code: "last_owner", "The last owner of a company cannot be removed, disabled or demoted")
    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, code: "payload_too_large", "The request body is larger than \(limit) bytes")
    }
    static let unsupportedMediaType = APIError(.unsupportedMediaType, code: "unsupported_media_type", "Expected Content-Type: application/json")

    // MARK: 429, 5xx

    static func rateLimited(retryAfter seconds: Int) -> APIError {
        var error = APIError(.tooManyRequests, code: "rate_limited", "Too many requests; retry after \(seconds) s")
        error.headers[.retryAfter] = String(seconds)
        return error
    }
    static func serverFault(_ logMessage: String) -> APIError {
        var error = APIError(.internalServerError, code: "internal_error", "Internal server error")
        error.logMessage = logMessage
        return error
    }
    static let unavailable = APIError(.serviceUnavailable, code: "unavailable", "The service is not ready")
}

/// Persons and groups.
extension APIError {
    static func unknownGroup(_ name: String) -> APIError {
        APIError(.badRequest, code: "unknown_group", "No group named '\(name)'", detail: "Create it with POST /groups first")
    }
    static let groupExists = APIError(.conflict, code: "group_exists", "A group with this name already exists")
    static func externalIDTaken(personID: Int64) -> APIError {
        var error = APIError(.conflict, code: "external_id_taken", "Another person has this external_id")
        error.detail = "person_id \(personID)"
        return error
    }
}

/// The timekeeper kiosks' contract (`docs/face-sync-api.md`): these messages are what the desktop app shows.
extension APIError {
    static let invalidFaceEncoding = APIError(.badRequest, code: "invalid_face_encoding", "Invalid face encoding format",
                                              detail: "Expected array of 128 float values")
    static let employeeNotFound = APIError(.notFound, code: "not_found", "Employee not found")
    static let noFaceToDelete = APIError(.notFound, code: "not_found", "Employee not found or no face data to delete")
    static let otherCompanysEmployee = APIError(.forbidden, code: "forbidden", "This employee belongs to another company")
    static let otherDevice = APIError(.forbidden, code: "forbidden", "A kiosk acknowledges only for its own device (X-Device-Id)")
    static let deviceRequired = APIError(.badRequest, code: "device_required", "Send X-Device-Id: the kiosk that applied the changes")
    static let invalidAppSecret = APIError(.unauthorized, code: "invalid_app_secret", "Missing or invalid X-App-Secret")
    static let encodingsForDesktopAppOnly = APIError(
        .forbidden, code: "encodings_desktop_app_only", "Raw face encodings are available only to the desktop app",
        detail: "send X-App-Secret with a kiosk credential, or use an admin-scoped API key for migration")
    /// The upload is older than the stored face (`deleted` false) or than the deletion of the face data (`deleted` true).
    static func staleRegistration(stored: Date, deleted: Bool) -> APIError {
        var error = deleted
            ? APIError(.conflict, code: "stale_registration", "The face data was deleted after this registration",
                       detail: "deleted at \(Timestamp.format(stored))")
            : APIError(.conflict, code: "stale_registration", "A newer face registration is already stored",
                       detail: "stored registration: \(Timestamp.format(stored))")
        error.extra = ["registered_at": .string(Timestamp.format(stored))]
        if deleted { error.extra["deleted_at"] = .string(Timestamp.format(stored)) }
        return error
    }
    static func timekeeperIDTaken(employeeID: Int64) -> APIError {
        APIError(.conflict, code: "timekeeper_id_taken", "Another employee has this timekeeper_id", detail: "employee_id \(employeeID)")
    }
    static let cursorExpired = APIError(.gone, code: "cursor_expired", "The sync cursor is expired or unknown",
                                        detail: "run a full sync (no cursor) and continue from its next_cursor")
}

/// The vector index (derived data) while it is rebuilt from the store.
extension APIError {
    static let indexRebuilding = APIError(.serviceUnavailable, code: "index_rebuilding", "The face index is being rebuilt",
                                          detail: "the store is intact; retry when /readyz answers 200")
}
