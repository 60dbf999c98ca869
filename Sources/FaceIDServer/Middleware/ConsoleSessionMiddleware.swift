import Crypto
import Foundation
import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    static let csrfToken = HTTPField.Name("X-CSRF-Token")!
}

/// The browser console's credentials: the session token in an HttpOnly, Secure, SameSite=Strict cookie scoped to
/// `/console` (script never sees it), and a CSRF token the page holds and sends as `X-CSRF-Token` on every call that
/// changes something. The token is an HMAC of the session token under a key derived from the master key, so every node
/// of a deployment accepts it without storing it, and it dies with its session.
struct ConsoleSession: Sendable {
    static let cookieName = "faceid_console"
    /// The cookie's scope: the console's pages, its session endpoint and the API mirror under `/console/api`.
    static let cookiePath = "/console"

    let key: SymmetricKey

    init(keyRing: KeyRing) {
        key = keyRing.derivedKey("console csrf")
    }

    /// The CSRF token that goes with `sessionToken`.
    func csrfToken(for sessionToken: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(sessionToken.utf8), using: key)
        return Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether `sent` is the session's token (compared in constant time).
    func verify(_ sent: String?, sessionToken: String) -> Bool {
        guard let sent else { return false }
        let expected = Array(csrfToken(for: sessionToken).utf8)
        let given = Array(sent.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The session token in the request's cookie, if any.
    static func sessionToken(in request: Request) -> String? {
        request.cookies[cookieName].map(\.value).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The cookie that carries `token` until `expires` (`nil`: an expired one that clears it).
    static func cookie(_ token: String?, expires: Date?) -> Cookie {
        Cookie(name: cookieName, value: token ?? "", expires: token == nil ? Date(timeIntervalSince1970: 0) : expires,
               maxAge: token == nil ? 0 : nil, path: cookiePath, secure: true, httpOnly: true, sameSite: .strict)
    }

    /// Methods that change something: they need the CSRF token.
    static func isSafe(_ method: HTTPRequest.Method) -> Bool {
        [.get, .head, .options].contains(method)
    }
}

/// Resolves the caller of `/console/api/…` from the console cookie (a session token; API keys never travel in cookies),
/// and refuses a state-changing call without the session's CSRF token (403 `csrf_failed`) before any handler runs.
/// Missing or dead cookie → 401, which the console turns into "your session has expired".
struct ConsoleSessionMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let services: AppServices

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let (principal, settings) = try await Self.caller(of: request, services: services)
        var context = context
        context.authenticated(principal, settings: settings)
        return try await next(request, context)
    }

    /// The user the console cookie signs in (401 without a live session), with the CSRF token checked when the method
    /// changes something (403 `csrf_failed`). The API mirror and the console's sign-out both ask here.
    static func caller(of request: Request, services: AppServices) async throws -> (Principal, CompanySettings) {
        guard let token = ConsoleSession.sessionToken(in: request) else { throw ServiceError.missingCredentials }
        let (principal, settings) = try await services.auth.authenticate(secret: token, deviceID: nil)
        guard principal.userID != nil else { throw ServiceError.invalidToken }
        if !ConsoleSession.isSafe(request.method) {
            guard services.console.verify(request.headers[.csrfToken], sessionToken: token) else { throw ServiceError.csrfFailed }
        }
        return (principal, settings)
    }
}
