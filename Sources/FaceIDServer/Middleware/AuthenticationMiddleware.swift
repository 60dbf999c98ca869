import Foundation
import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    static let apiKey = HTTPField.Name("X-API-Key")!
    static let deviceID = HTTPField.Name("X-Device-Id")!
    static let requestID = HTTPField.Name("X-Request-Id")!
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let strictTransportSecurity = HTTPField.Name("Strict-Transport-Security")!
}

/// Resolves the caller on protected routes: `Authorization: Token|Bearer <t>` or `X-API-Key: <key>`,
/// plus an optional `X-Device-Id`. Missing credentials → 401 `missing_credentials`; unknown, revoked or
/// expired ones → 401 `invalid_token`. What each caller may do is decided later, per route (`ProtectedRoutes`).
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let services: AppServices

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let (principal, settings) = try await authenticate(request)
        context.authenticated(principal, settings: settings)
        return try await next(request, context)
    }

    private func authenticate(_ request: Request) async throws -> (Principal, CompanySettings) {
        guard let secret = Self.credential(in: request.headers) else { throw ServiceError.missingCredentials }
        return try await services.auth.authenticate(secret: secret, deviceID: request.headers[.deviceID])
    }

    /// The secret from the first of `Authorization` (Token or Bearer) and `X-API-Key` present.
    static func credential(in headers: HTTPFields) -> String? {
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, ["token", "bearer"].contains(parts[0].lowercased()) {
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                return value.isEmpty ? nil : value
            }
            return nil
        }
        return headers[.apiKey].map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
    }
}

extension AppRequestContext {
    /// Records the resolved caller for the handler, and its company for the request log.
    mutating func authenticated(_ principal: Principal, settings: CompanySettings) {
        self.principal = principal
        notes.companyID = principal.companyID
        companySettings = settings
    }

    /// The caller, or 401 when a route forgot `AuthenticationMiddleware` (it never does: `ProtectedRoutes`).
    func requirePrincipal() throws(ServiceError) -> Principal {
        guard let principal else { throw ServiceError.missingCredentials }
        return principal
    }
}
