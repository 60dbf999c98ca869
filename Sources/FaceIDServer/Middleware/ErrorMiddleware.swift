import FaceEngine
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO

/// Turns every thrown error into the API's error body, so no client mistake becomes a bare 500.
///
/// Every error becomes a `ServiceError` (`ServiceError.answering(_:)`), whose code gives the status (`ErrorCode.status`);
/// an internal error's reason goes to the log, never to the client.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// Every served route: an unmatched request whose path is known gets 405 with `Allow`, not 404.
    let routes: RouteTemplates

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = routes.methods(for: request.uri.path)
            return (allowed.isEmpty ? ServiceError.routeNotFound : .methodNotAllowed(allow: allowed)).makeResponse()
        } catch {
            let answer = ServiceError.answering(error)
            // A server-side failure is logged with a reason written for the log (`logMessage`), or the error's type: a native
            // error's text may carry data the log must never see.
            if answer.status.code >= 500,
               let reason = answer.logMessage ?? (answer.code == .internalError ? String(describing: type(of: error)) : nil) {
                context.logger.error("request failed", metadata: ["reason": .string(reason)])
            }
            return answer.makeResponse()
        }
    }
}

extension ServiceError {
    /// The answer to any error a handler throws: the one mapping from every layer's errors to the API's.
    static func answering(_ error: any Error) -> ServiceError {
        switch error {
        case let error as ServiceError: error
        case let error as StoreError: ServiceError(error)
        case let error as HTTPError: answering(error)
        case let error as DecodingError: APIJSON.map(error)
        case let error as FaceEngineError: .image(error)
        case let error as PSQLError: StoreError.transient(error).map(ServiceError.init) ?? .serverFault("PostgreSQL \(error.code)")
        default: .serverFault("unexpected \(String(describing: type(of: error)))")
        }
    }

    /// Hummingbird's own errors (an unreadable or oversized body, a wrong content type).
    private static func answering(_ error: HTTPError) -> ServiceError {
        switch error.status {
        case .notFound: .routeNotFound
        case .contentTooLarge: .bodyTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case _ where error.status.code >= 500: .serverFault("HTTPError \(error.status.code)")
        default: .badRequest(error.body ?? error.status.reasonPhrase)
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
        // Nothing of faceid may be framed; the console's pages load only their own files (no inline script or style, no
        // other origin); an API answer is data and loads nothing.
        response.headers[Self.frameOptions] = "DENY"
        response.headers[Self.contentSecurityPolicy] = request.uri.path.hasPrefix("/console") ? Self.consolePolicy : Self.apiPolicy
        response.headers[Self.referrerPolicy] = "no-referrer"
        return response
    }

    static let frameOptions = HTTPField.Name("X-Frame-Options")!
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let consolePolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob: data:", "connect-src 'self'",
        "media-src 'self' blob: mediastream:", "font-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
    ].joined(separator: "; ")
    static let apiPolicy = "default-src 'none'; frame-ancestors 'none'"
}
