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
        let body = try await request.decodeJSON(RegisterRequest.self, limit: services.configuration.maxBodySize)
        let companyName = try Validate.name(body.companyName, field: "company_name")
        let email = try Validate.email(body.email)
        try Validate.password(body.password)
        let fullName = try Validate.optionalName(body.fullName, field: "full_name") ?? ""
        let started = try await services.auth.register(companyName: companyName, email: email, password: body.password,
                                                       fullName: fullName, origin: origin)
        context.notes.companyID = started.company.id
        return Created(value: SessionResponse(started))
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> SessionResponse {
        let body = try await request.decodeJSON(LoginRequest.self, limit: services.configuration.maxBodySize)
        let started = try await services.auth.login(email: body.email, password: body.password, origin: services.origin(request, context))
        context.notes.companyID = started.company.id
        return SessionResponse(started)
    }

    @Sendable func logout(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        try await services.auth.logout(principal, origin: services.origin(request, context))
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
