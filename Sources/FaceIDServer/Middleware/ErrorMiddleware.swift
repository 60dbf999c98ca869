import Foundation
import Hummingbird
import Logging

/// Turns every thrown error into the API's error body, so no client mistake becomes a bare 500.
///
/// `APIError` keeps its status and code; Hummingbird's own `HTTPError`s (unmatched route, bad method,
/// oversized body) get a stable code by status; anything else is a 500 whose details stay in the log.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// Every served route: an unmatched request whose path is known gets 405 with `Allow`, not 404.
    let routes: RouteTemplates

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            if error.status.code >= 500, let message = error.logMessage {
                context.logger.error("request failed", metadata: ["reason": .string(message)])
            }
            return error.makeResponse()
        } catch let error as HTTPError {
            if error.status == .notFound, case let allowed = routes.methods(for: request.uri.path), !allowed.isEmpty {
                return APIError.methodNotAllowed(allow: allowed).makeResponse()
            }
            return Self.map(error).makeResponse()
        } catch let error as DecodingError {
            return APIJSON.map(error).makeResponse()
        } catch {
            // The type only: a native error's text may carry data the log must never see.
            context.logger.error("unexpected error", metadata: ["type": .string(String(describing: type(of: error)))])
            return APIError.serverFault("unexpected").makeResponse()
        }
    }

    static func map(_ error: HTTPError) -> APIError {
        switch error.status {
        case .notFound: .routeNotFound
        case .contentTooLarge: APIError(.contentTooLarge, code: "payload_too_large", "The request body is too large")
        case .badRequest: APIError(.badRequest, code: "bad_request", error.body ?? "Bad request")
        case .unsupportedMediaType: .unsupportedMediaType
        default:
            error.status.code >= 500
                ? .serverFault("HTTPError \(error.status.code)")
                : APIError(error.status, code: "http_\(error.status.code)", error.status.reasonPhrase)
        }
    }
}

/// Adds `Strict-Transport-Security` (HTTPS only) and conservative headers to every response.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let https: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if https { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.cacheControl] = response.headers[.cacheControl] ?? "no-store"
        return response
    }
}
