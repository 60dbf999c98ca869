import Foundation
import HTTPTypes
import Hummingbird

/// The one error type handlers throw: an HTTP status, a stable machine code and a human message.
///
/// Its response is the body every client (the kiosk app included) expects:
/// `{"success": false, "error": "<message>", "code": "<code>", "detail": "<optional>"}`.
/// `APIError+Catalog.swift` is the table of every code the API uses.
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var detail: String?
    /// Extra fields merged into the body, as JSON values (the conflicting person of a duplicate face: its id a number).
    public var extra: [String: JSONValue] = [:]
    /// Extra response headers (e.g. `Retry-After`).
    public var headers: HTTPFields = [:]
    /// What the server log records for a 5xx (never sent to the client).
    public var logMessage: String?

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, detail: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
    }
}

extension APIError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        makeResponse()
    }

    /// The JSON error body with its status and headers.
    public func makeResponse() -> Response {
        var body: [String: Any] = extra.mapValues(\.foundationObject)
        body["error"] = message
        body["code"] = code
        if let detail { body["detail"] = detail }
        // `success` comes first, so the object is assembled by hand around the other (sorted) fields.
        var object = try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        object.removeFirst()  // "{"
        let json = Data(#"{"success":false,"#.utf8) + object
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }
}
