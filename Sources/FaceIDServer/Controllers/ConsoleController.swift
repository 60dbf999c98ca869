import Foundation
import Hummingbird

/// The browser console: its static files (`GET /console/`, `GET /console/assets/…`) and its cookie session
/// (`POST /console/session` signs in, `GET` answers who is signed in with the CSRF token, `DELETE` signs out). Everything
/// else the console does goes through the API mirror under `/console/api` (`ProtectedRoutes`).
struct ConsoleController {
    let services: AppServices
    let assets: ConsoleAssets

    func addRoutes(to router: Router<AppRequestContext>, table: inout [RouteInfo]) {
        // The router does not tell /console from /console/: both are the page (whose links are absolute).
        router.get("console") { request, _ in try assets.response("index.html", request: request) }
        router.get("console/assets/**") { request, context in
            let path = context.parameters.getCatchAll().joined(separator: "/")
            // `index.html` only at /console/; a path with a dot segment names nothing.
            guard path != "index.html", !path.split(separator: "/").contains(where: { $0.hasPrefix(".") }) else {
                throw ServiceError.routeNotFound
            }
            return try assets.response(path, request: request)
        }
        router.post("console/session", use: signIn)
        router.get("console/session", use: current)
        router.delete("console/session", use: signOut)
        for method in [HTTPRequest.Method.post, .get, .delete] {
            table.append(RouteInfo(method: method, path: "/console/session", permission: nil))
        }
    }

    /// Signs in with email and password (the login's rate limits and audit), and sets the session cookie.
    @Sendable func signIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(LoginRequest.self, limit: services.configuration.maxBodySize)
        let started = try await services.auth.login(email: body.email, password: body.password, origin: services.origin(request, context))
        context.notes.companyID = started.company.id
        let view = ConsoleSessionView(
            csrfToken: services.console.csrfToken(for: started.token), expiresAt: Timestamp.format(started.session.expiresAt),
            user: UserView(started.user), company: CompanyView(started.company),
            permissions: Self.permissions(of: started.user.role), roles: Self.matrix)
        var response = try view.response(from: request, context: context)
        response.setCookie(ConsoleSession.cookie(started.token, expires: started.session.expiresAt))
        return response
    }

    /// Who the cookie signs in, with the CSRF token the page sends back (a reloaded page asks here).
    @Sendable func current(_ request: Request, context: AppRequestContext) async throws -> ConsoleSessionView {
        guard let token = ConsoleSession.sessionToken(in: request) else { throw ServiceError.missingCredentials }
        guard let (session, user, company) = try await services.store.liveSession(tokenHash: Credentials.hash(token), now: services.clock.now)
        else { throw ServiceError.invalidToken }
        context.notes.companyID = company.id
        return ConsoleSessionView(
            csrfToken: services.console.csrfToken(for: token), expiresAt: Timestamp.format(session.expiresAt),
            user: UserView(user), company: CompanyView(company), permissions: Self.permissions(of: user.role), roles: Self.matrix)
    }

    /// Revokes the session (audited like `POST /logout`) and clears the cookie; needs the CSRF token.
    @Sendable func signOut(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, _) = try await ConsoleSessionMiddleware.caller(of: request, services: services)
        context.notes.companyID = principal.companyID
        try await services.auth.logout(principal, origin: services.origin(request, context))
        var response = Response(status: .noContent)
        response.setCookie(ConsoleSession.cookie(nil, expires: nil))
        return response
    }

    /// The permissions of `role` in the matrix, as the console names them (`read_persons`): what it may show.
    static func permissions(of role: Role) -> [String] {
        Permission.allCases.filter { $0.allowedRoles.contains(role) }.map(\.wireName)
    }

    /// The whole matrix for roles, for the settings page's table: each role's permissions.
    static let matrix: [String: [String]] = Dictionary(uniqueKeysWithValues: Role.allCases.map { ($0.rawValue, permissions(of: $0)) })
}
