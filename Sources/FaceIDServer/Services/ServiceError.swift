/// A failure a caller must know about, in the domain's terms: a stable `ErrorCode`, a human message, an optional
/// detail and extra fields. Services, validation and controllers throw it; the store throws `StoreError`, which
/// `ServiceError.init(_:)` translates; the HTTP edge (`ServiceError+HTTP.swift`) gives each code its status.
///
/// `ServiceError+Catalog.swift` builds every one of them.
public struct ServiceError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    public var detail: String?
    /// Extra fields merged into the body, as JSON values (the conflicting person of a duplicate face: its id a number).
    public var extra: [String: JSONValue] = [:]
    /// Seconds until a retry may succeed (`Retry-After` of a 429).
    public var retryAfter: Int?
    /// The methods a known path serves (`Allow` of a 405).
    public var allow: [String]?
    /// What the server log records for an internal error (never sent to the client).
    public var logMessage: String?

    public init(_ code: ErrorCode, _ message: String, detail: String? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
    }
}
