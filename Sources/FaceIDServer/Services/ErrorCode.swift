/// Every public error code, once: the `code` of the error body clients branch on.
///
/// A code means one thing and has one HTTP status (`ErrorCode.status`, in `API/`); the message and detail say which
/// resource or field. The README's error table and the OpenAPI document list exactly these (a test holds them to it).
public enum ErrorCode: String, CaseIterable, Sendable {
    // 400: the request is wrong; do not retry it unchanged.
    case invalidJSON = "invalid_json"
    case invalidField = "invalid_field"
    case missingField = "missing_field"
    case weakPassword = "weak_password"
    case invalidScope = "invalid_scope"
    case invalidQuery = "invalid_query"
    case sessionRequired = "session_required"
    case unknownGroup = "unknown_group"
    case invalidMultipart = "invalid_multipart"
    case emptyImage = "empty_image"
    case corruptImage = "corrupt_image"
    /// An image request FaceEngine refuses (e.g. a zero-sized box).
    case invalidImageRequest = "invalid_argument"
    case invalidFaceEncoding = "invalid_face_encoding"
    case deviceRequired = "device_required"
    /// A request Hummingbird itself could not read.
    case badRequest = "bad_request"
    /// An `Idempotency-Key` header that is not 1…200 printable ASCII characters.
    case invalidIdempotencyKey = "invalid_idempotency_key"
    /// `DELETE /company` without the exact confirmation phrase.
    case confirmationMismatch = "confirmation_mismatch"

    // 401, 403
    case missingCredentials = "missing_credentials"
    case invalidToken = "invalid_token"
    case invalidLogin = "invalid_login"
    case unknownDevice = "unknown_device"
    case invalidAppSecret = "invalid_app_secret"
    case forbidden = "forbidden"
    case csrfFailed = "csrf_failed"
    /// A password asked again before an irreversible act (`DELETE /company`) that does not match.
    case reauthenticationFailed = "reauthentication_failed"
    case encodingsDesktopAppOnly = "encodings_desktop_app_only"

    // 404, 405
    /// A resource of the caller's company that does not exist (another company's id included: no existence leak).
    case notFound = "not_found"
    case routeNotFound = "route_not_found"
    case imageNotStored = "image_not_stored"
    case methodNotAllowed = "method_not_allowed"

    // 409, 410
    case emailTaken = "email_taken"
    case lastOwner = "last_owner"
    case groupExists = "group_exists"
    case externalIDTaken = "external_id_taken"
    case duplicateFace = "duplicate_face"
    case consentRequired = "consent_required"
    case timekeeperIDTaken = "timekeeper_id_taken"
    case staleRegistration = "stale_registration"
    /// A request with this `Idempotency-Key` runs now; retry after `Retry-After`.
    case idempotencyInProgress = "idempotency_in_progress"
    /// The request with this `Idempotency-Key` was applied, but its answer was lost (its node stopped).
    case idempotentRequestApplied = "idempotent_request_applied"
    case cursorExpired = "cursor_expired"

    // 413, 415
    case payloadTooLarge = "payload_too_large"
    case imageTooLarge = "image_too_large"
    case unsupportedMediaType = "unsupported_media_type"
    case unsupportedFormat = "unsupported_format"

    // 422: the enrollment quality gate.
    case noFace = "no_face"
    case multipleFaces = "multiple_faces"
    case faceTooSmall = "face_too_small"
    case faceCutOff = "face_cut_off"
    case lowDetectorScore = "low_detector_score"
    /// The `Idempotency-Key` was used before for a different request.
    case idempotencyKeyReused = "idempotency_key_reused"

    // 429, 5xx
    case rateLimited = "rate_limited"
    case internalError = "internal_error"
    case unavailable = "unavailable"
    case indexRebuilding = "index_rebuilding"
    case modelsUnavailable = "models_unavailable"
}
