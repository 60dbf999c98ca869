import FaceEngine
import Foundation

/// Every error the API answers with, built in one place: its code, message and detail.
extension ServiceError {
    // MARK: The request

    static func invalidJSON(_ detail: String?) -> ServiceError {
        ServiceError(.invalidJSON, "The request body is not valid JSON", detail: detail)
    }
    static func invalidField(_ field: String, _ detail: String) -> ServiceError {
        ServiceError(.invalidField, "Invalid value for field '\(field)'", detail: detail)
    }
    static func missingField(_ field: String) -> ServiceError {
        ServiceError(.missingField, "Missing required field '\(field)'")
    }
    static func weakPassword(minimum: Int) -> ServiceError {
        ServiceError(.weakPassword, "The password must have at least \(minimum) characters")
    }
    static func invalidScope(_ scope: String) -> ServiceError {
        ServiceError(.invalidScope, "Unknown API key scope '\(scope)'",
                     detail: "Known scopes: " + Scope.allCases.map(\.rawValue).joined(separator: ", "))
    }
    static func invalidQuery(_ name: String, _ detail: String) -> ServiceError {
        ServiceError(.invalidQuery, "Invalid query parameter '\(name)'", detail: detail)
    }
    static func invalidMultipart(_ message: String, detail: String? = nil) -> ServiceError {
        ServiceError(.invalidMultipart, message, detail: detail)
    }
    static func badRequest(_ message: String) -> ServiceError { ServiceError(.badRequest, message) }
    static let sessionRequired = ServiceError(.sessionRequired, "Only a session token can log out")
    static let sessionRequiredToDeleteCompany = ServiceError(.sessionRequired, "Only the owner, signed in with a session, can delete the company")
    static func confirmationMismatch(expected: String) -> ServiceError {
        ServiceError(.confirmationMismatch, "The confirmation does not match", detail: "send \"confirmation\": \"\(expected)\"")
    }
    static let reauthenticationFailed = ServiceError(.reauthenticationFailed, "The password does not match the signed-in user's")
    static func bodyTooLarge(limit: Int) -> ServiceError {
        ServiceError(.payloadTooLarge, "The request body is larger than \(limit) bytes")
    }
    static let bodyTooLarge = ServiceError(.payloadTooLarge, "The request body is too large")
    static let unsupportedMediaType = ServiceError(.unsupportedMediaType, "Expected Content-Type: application/json")

    // MARK: Who is asking

    static let missingCredentials = ServiceError(.missingCredentials, "Authentication credentials were not provided")
    static let invalidToken = ServiceError(.invalidToken, "Invalid, expired or revoked credentials")
    static let invalidLogin = ServiceError(.invalidLogin, "Invalid email or password")
    static let unknownDevice = ServiceError(.unknownDevice, "X-Device-Id does not name a registered device of this company")
    static let forbidden = ServiceError(.forbidden, "Your role or API key scope does not allow this action")

    // MARK: Resources and conflicts

    static func notFound(_ what: String) -> ServiceError {
        ServiceError(.notFound, "\(what) not found")
    }
    static let csrfFailed = ServiceError(.csrfFailed, "The console request lacks its CSRF token (X-CSRF-Token) or the token does not match the session")
    static let routeNotFound = ServiceError(.routeNotFound, "No such endpoint")
    /// A known path asked with a method it does not serve; `Allow` lists the ones it does.
    static func methodNotAllowed(allow: [String]) -> ServiceError {
        var error = ServiceError(.methodNotAllowed, "Method not allowed on this endpoint", detail: "allowed: " + allow.joined(separator: ", "))
        error.allow = allow
        return error
    }
    static let emailTaken = ServiceError(.emailTaken, "An account with this email already exists")
    static let lastOwner = ServiceError(.lastOwner, "The last owner of a company cannot be removed, disabled or demoted")
    static let imageNotStored = ServiceError(.imageNotStored, "No photo is stored for this face",
                                             detail: "photos are kept only while the company setting store_images is on")

    // MARK: Limits and faults

    // MARK: Idempotency-Key

    static let invalidIdempotencyKey = ServiceError(.invalidIdempotencyKey, "Invalid Idempotency-Key header",
                                                    detail: "expected 1 to 200 printable ASCII characters, e.g. a UUID")
    static let idempotencyKeyReused = ServiceError(.idempotencyKeyReused, "This Idempotency-Key was used for a different request")
    static var idempotencyInProgress: ServiceError {
        var error = ServiceError(.idempotencyInProgress, "A request with this Idempotency-Key is being processed")
        error.retryAfter = 1
        return error
    }
    static let idempotentRequestApplied = ServiceError(
        .idempotentRequestApplied, "The request with this Idempotency-Key was applied, but its answer was lost",
        detail: "the node that ran it stopped before answering; read the resource to see the result")

    static func rateLimited(retryAfter seconds: Int) -> ServiceError {
        var error = ServiceError(.rateLimited, "Too many requests; retry after \(seconds) s")
        error.retryAfter = seconds
        return error
    }
    static func serverFault(_ logMessage: String) -> ServiceError {
        var error = ServiceError(.internalError, "Internal server error")
        error.logMessage = logMessage
        return error
    }
    static let unavailable = ServiceError(.unavailable, "The service is not ready")
    /// The store out of reach for a moment (the reason goes to the log): retry after a second.
    static func storeUnavailable(_ reason: String) -> ServiceError {
        var error = ServiceError(.unavailable, "The store is unavailable; retry shortly")
        error.retryAfter = 1
        error.logMessage = reason
        return error
    }
}

/// Persons and groups.
extension ServiceError {
    static func unknownGroup(_ name: String) -> ServiceError {
        ServiceError(.unknownGroup, "No group named '\(name)'", detail: "Create it with POST /groups first")
    }
    static let groupExists = ServiceError(.groupExists, "A group with this name already exists")
    static func externalIDTaken(personID: Int64) -> ServiceError {
        ServiceError(.externalIDTaken, "Another person has this external_id", detail: "person_id \(personID)")
    }
}

/// Photos: the image, the quality gate, the duplicate guard, the models.
extension ServiceError {
    static func image(_ error: FaceEngineError) -> ServiceError {
        switch error {
        case .emptyImage: ServiceError(.emptyImage, "The image is empty")
        case .unsupportedFormat: ServiceError(.unsupportedFormat, "The image is not a JPEG or PNG")
        case .corruptImage(let why): ServiceError(.corruptImage, "The image cannot be decoded", detail: why)
        case .imageTooLarge(let why): ServiceError(.imageTooLarge, "The image is too large", detail: why)
        case .invalidArgument(let why): ServiceError(.invalidImageRequest, "Invalid image request", detail: why)
        case .modelUnavailable, .internalFailure: serverFault(error.description)
        }
    }
    static let noFace = ServiceError(.noFace, "No face was found in the photo")
    static func multipleFaces(_ count: Int) -> ServiceError {
        ServiceError(.multipleFaces, "The photo shows \(count) faces", detail: "send select=largest to enroll the largest one")
    }
    /// The face fails the quality gate for `reason` (never `multipleFaces`, which `multipleFaces(_:)` reports).
    static func poorQuality(_ reason: QualityReason, _ quality: FaceQuality) -> ServiceError {
        let code: ErrorCode = switch reason {
        case .noFace: .noFace
        case .multipleFaces: .multipleFaces
        case .faceTooSmall: .faceTooSmall
        case .faceCutOff: .faceCutOff
        case .lowDetectorScore: .lowDetectorScore
        }
        return ServiceError(code, "The face does not pass the quality gate",
                            detail: "size \(quality.size) px, detector score \(String(format: "%.2f", quality.detectorScore))")
    }
    /// 409: the nearest face of another person is within the duplicate distance.
    static func duplicateFace(personID: Int64, fullName: String, distance: Double) -> ServiceError {
        var error = ServiceError(.duplicateFace, "This face is already enrolled for another person",
                                 detail: "person_id \(personID) (\(fullName)), distance \(distance)")
        error.extra = ["person_id": .number(Double(personID)), "full_name": .string(fullName), "distance": .number(distance)]
        return error
    }
    /// 409: the company requires consent and the person has none recorded (nil: a person the request would create).
    static func consentRequired(personID: Int64?) -> ServiceError {
        var error = ServiceError(.consentRequired, "The company requires a recorded consent before storing this person's face",
                                 detail: personID.map { "person_id \($0): record it with PUT /persons/\($0)/consent" }
                                    ?? "create the person, record their consent (PUT /persons/{id}/consent), then enroll")
        if let personID { error.extra = ["person_id": .number(Double(personID))] }
        return error
    }
    static func modelsUnavailable(_ logMessage: String) -> ServiceError {
        var error = ServiceError(.modelsUnavailable, "The face models are not available", detail: "make setup installs them")
        error.logMessage = logMessage
        return error
    }
}

/// The timekeeper kiosks' contract (`docs/face-sync-api.md`): these messages are what the desktop app shows.
extension ServiceError {
    static let invalidFaceEncoding = ServiceError(.invalidFaceEncoding, "Invalid face encoding format",
                                                  detail: "Expected array of 128 float values")
    static let employeeNotFound = ServiceError(.notFound, "Employee not found")
    static let noFaceToDelete = ServiceError(.notFound, "Employee not found or no face data to delete")
    static let otherCompanysEmployee = ServiceError(.forbidden, "This employee belongs to another company")
    static let otherDevice = ServiceError(.forbidden, "A kiosk acknowledges only for its own device (X-Device-Id)")
    static let deviceRequired = ServiceError(.deviceRequired, "Send X-Device-Id: the kiosk that applied the changes")
    static let invalidAppSecret = ServiceError(.invalidAppSecret, "Missing or invalid X-App-Secret")
    static let encodingsForDesktopAppOnly = ServiceError(
        .encodingsDesktopAppOnly, "Raw face encodings are available only to the desktop app",
        detail: "send X-App-Secret with a kiosk credential, or use an admin-scoped API key for migration")
    /// The upload is older than the stored face (`deleted` false) or than the deletion of the face data (`deleted` true).
    static func staleRegistration(stored: Date, deleted: Bool) -> ServiceError {
        var error = deleted
            ? ServiceError(.staleRegistration, "The face data was deleted after this registration",
                           detail: "deleted at \(Timestamp.format(stored))")
            : ServiceError(.staleRegistration, "A newer face registration is already stored",
                           detail: "stored registration: \(Timestamp.format(stored))")
        error.extra = ["registered_at": .string(Timestamp.format(stored))]
        if deleted { error.extra["deleted_at"] = .string(Timestamp.format(stored)) }
        return error
    }
    static func timekeeperIDTaken(employeeID: Int64) -> ServiceError {
        ServiceError(.timekeeperIDTaken, "Another employee has this timekeeper_id", detail: "employee_id \(employeeID)")
    }
    static let cursorExpired = ServiceError(.cursorExpired, "The sync cursor is expired or unknown",
                                            detail: "run a full sync (no cursor) and continue from its next_cursor")
}

/// The vector index (derived data) while it is rebuilt from the store.
extension ServiceError {
    static let indexRebuilding = ServiceError(.indexRebuilding, "The face index is being rebuilt",
                                              detail: "the store is intact; retry when /readyz answers 200")
}
