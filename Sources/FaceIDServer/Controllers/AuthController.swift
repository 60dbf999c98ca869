import Foundation
import Hummingbird

/// `POST /register`, `POST /login`, `POST /logout`, `GET /me`.
struct AuthController {
    let services: AppServices

    func addRoutes(to router: Router<AppRequestContext>, protected routes: inout ProtectedRoutes, table: inout [RouteInfo]) {
        router.post("register", use: register)
        router.post("login", use: login)
        table.append(RouteInfo(method: .post, path: "/register", permission: nil))
        table.append(RouteInfo(method: .post, path: "/login", permission: nil))
        routes.on(.post, "/logout", .readProfile, use: logout)
        routes.on(.get, "/me", .readProfile, use: me)
    }

    @Sendable func register(_ request: Request, context: AppRequestContext) async throws -> Created<SessionResponse> {
        let origin = services.origin(request, context)
        try services.limit("register:\(origin.remoteAddress)", .atMost(services.configuration.rateLimits.registerPerHour, per: .seconds(3600)))
        let body = try await request.decodeJSON(RegisterRequest.self, limit: services.configuration.maxBodySize)
        let companyName = try Validate.name(body.companyName, field: "company_name")
        let email = try Validate.email(body.email)
        try Validate.password(body.password)
        let fullName = try Validate.optionalName(body.fullName, field: "full_name") ?? ""
        let passwordHash = try await services.hashPassword(body.password)
        let token = Credentials.newSessionToken()
        let settings = services.defaultSettings
        let owner = UserRecord(id: nil, companyID: 0, email: email, passwordHash: passwordHash, fullName: fullName,
                               role: .owner, disabled: false, createdAt: Date())
        let (company, user, session) = try await services.store.registerCompany(
            name: companyName, owner: owner, settings: settings, keyRing: services.keyRing,
            tokenHash: Credentials.hash(token), origin: origin)
        context.notes.companyID = company.id
        return Created(value: SessionResponse(token: token, expiresAt: Timestamp.format(session.expiresAt),
                                              user: UserView(user), company: CompanyView(company)))
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> SessionResponse {
        let origin = services.origin(request, context)
        let body = try await request.decodeJSON(LoginRequest.self, limit: services.configuration.maxBodySize)
        let limits = services.configuration.rateLimits
        let window = Duration.seconds(15 * 60)
        let addressKey = "login-failures-address:\(origin.remoteAddress)"
        let emailKey = "login-failures-email:\(body.email.lowercased())"
        let addressLimit = RateLimiter.Limit.atMost(limits.loginFailuresPerAddress, per: window)
        let emailLimit = RateLimiter.Limit.atMost(limits.loginFailuresPerEmail, per: window)
        // Failures are counted; at the limit even the right password is refused until the oldest failure leaves the window.
        if let retry = services.limiter.check(addressKey, limit: addressLimit) ?? services.limiter.check(emailKey, limit: emailLimit) {
            throw ServiceError.rateLimited(retryAfter: retry)
        }
        let account = try await services.store.account(email: body.email)
        let matches = try await services.verifyPassword(body.password, hash: account?.0.passwordHash ?? services.decoyPasswordHash)
        guard let (user, company) = account, matches, !user.disabled else {
            _ = services.limiter.take(addressKey, limit: addressLimit)
            _ = services.limiter.take(emailKey, limit: emailLimit)
            if let user = account?.0 {
                try await services.store.audit(
                    AuditEvent(action: "auth.login_failed", actor: "user:\(user.id!)", target: "user:\(user.id!)",
                               detail: ["reason": user.disabled ? "disabled" : "wrong_password"], origin: origin),
                    companyID: user.companyID)
            }
            throw ServiceError.invalidLogin
        }
        let settings = CompanySettings.decode(company.settings, fallback: services.defaultSettings)
        let token = Credentials.newSessionToken()
        let session = try await services.store.createSession(
            user: user, tokenHash: Credentials.hash(token), lifetimeMinutes: settings.tokenLifetimeMinutes, origin: origin)
        context.notes.companyID = company.id
        return SessionResponse(token: token, expiresAt: Timestamp.format(session.expiresAt), user: UserView(user),
                               company: CompanyView(company))
    }

    @Sendable func logout(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        guard case .session(let sessionID, _, _) = principal.credential else { throw ServiceError.sessionRequired }
        try await services.store.revokeSession(
            companyID: principal.companyID, sessionID: sessionID, actor: principal.actor,
            origin: services.origin(request, context))
        return Response(status: .noContent)
    }

    @Sendable func me(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> MeResponse {
        guard let company = try await services.store.company(principal.companyID) else { throw ServiceError.invalidToken }
        var response = MeResponse(company: CompanyView(company), deviceId: principal.deviceID)
        switch principal.credential {
        case .session(_, let userID, _):
            guard let user = try await services.store.user(id: userID, companyID: principal.companyID) else { throw ServiceError.invalidToken }
            response.user = UserView(user)
        case .apiKey(let id, _):
            response.apiKey = try await services.store.apiKeys(companyID: principal.companyID).first { $0.id == id }.map(APIKeyView.init)
        }
        return response
    }
}
