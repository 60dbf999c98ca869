import Foundation
import HTTPTypes
import Hummingbird

extension ErrorCode {
    /// The one table from error codes to HTTP statuses.
    var status: HTTPResponse.Status {
        switch self {
        case .invalidJSON, .invalidField, .missingField, .weakPassword, .invalidScope, .invalidQuery, .sessionRequired, .confirmationMismatch, .unknownGroup,
             .invalidMultipart, .emptyImage, .corruptImage, .invalidImageRequest, .invalidFaceEncoding, .deviceRequired, .badRequest,
             .invalidIdempotencyKey:
            .badRequest
        case .missingCredentials, .invalidToken, .invalidLogin, .unknownDevice, .invalidAppSecret: .unauthorized
        case .forbidden, .encodingsDesktopAppOnly, .csrfFailed, .reauthenticationFailed: .forbidden
        case .notFound, .routeNotFound, .imageNotStored: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .emailTaken, .lastOwner, .groupExists, .externalIDTaken, .duplicateFace, .consentRequired, .timekeeperIDTaken, .staleRegistration,
             .idempotencyInProgress, .idempotentRequestApplied: .conflict
        case .cursorExpired: .gone
        case .payloadTooLarge, .imageTooLarge: .contentTooLarge
        case .unsupportedMediaType, .unsupportedFormat: .unsupportedMediaType
        case .noFace, .multipleFaces, .faceTooSmall, .faceCutOff, .lowDetectorScore, .idempotencyKeyReused: .unprocessableContent
        case .rateLimited: .tooManyRequests
        case .internalError: .internalServerError
        case .unavailable, .indexRebuilding, .modelsUnavailable: .serviceUnavailable
        }
    }
}

extension ServiceError: HTTPResponseError {
    public var status: HTTPResponse.Status { code.status }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        makeResponse()
    }

    /// The error body every client (the kiosk app included) expects, with its status and headers:
    /// `{"success": false, "error": "<message>", "code": "<code>", "detail": "<optional>"}` plus `extra`.
    public func makeResponse() -> Response {
        var body: [String: Any] = extra.mapValues(\.foundationObject)
        body["error"] = message
        body["code"] = code.rawValue
        if let detail { body["detail"] = detail }
        // `success` comes first, so the object is assembled by hand around the other (sorted) fields.
        var object = try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        object.removeFirst()  // "{"
        let json = Data(#"{"success":false,"#.utf8) + object
        var fields: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let retryAfter { fields[.retryAfter] = String(retryAfter) }
        if let allow { fields[.allow] = allow.joined(separator: ", ") }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }
}
