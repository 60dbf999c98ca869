import Foundation
import Hummingbird

/// `POST /users`, `GET /users`, `PATCH /users/{id}`, `DELETE /users/{id}`.
///
/// Beyond the matrix: only an owner may create, promote to, change or delete an owner.
struct UsersController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/users", .manageUsers, use: create)
        routes.on(.get, "/users", .readUsers, use: list)
        routes.on(.patch, "/users/{id}", .manageUsers, use: update)
        routes.on(.delete, "/users/{id}", .manageUsers, use: delete)
    }

    @Sendable func create(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Created<UserResponse> {
        let body = try await request.decodeJSON(CreateUserRequest.self, limit: services.configuration.maxBodySize)
        let email = try Validate.email(body.email)
        try Validate.password(body.password)
        if body.role == .owner { try requireOwner(principal) }
        let user = UserRecord(
            id: nil, companyID: principal.companyID, email: email, passwordHash: try await services.auth.hashPassword(body.password),
            fullName: try Validate.optionalName(body.fullName, field: "full_name") ?? "", role: body.role, disabled: false,
            createdAt: Date())
        let created = try await services.store.createUser(user, actor: principal.actor, origin: services.origin(request, context))
        return Created(value: UserResponse(user: UserView(created)))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> UserList {
        UserList(users: try await services.store.users(companyID: principal.companyID).map(UserView.init))
    }

    @Sendable func update(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> UserResponse {
        let id = try context.parameters.id("id", "User")
        let body = try await request.decodeJSON(UpdateUserRequest.self, limit: services.configuration.maxBodySize)
        let change = Store.UserChange(role: body.role, disabled: body.disabled,
                                      fullName: try body.fullName.map { try Validate.name($0, field: "full_name") })
        let isOwner = principal.role == .owner
        let promotesToOwner = body.role == .owner
        let updated = try await services.store.updateUser(
            id: id, companyID: principal.companyID, change: change, actor: principal.actor, origin: services.origin(request, context)
        ) { current in
            if (current.role == .owner || promotesToOwner) && !isOwner { throw ServiceError.forbidden }
        }
        return UserResponse(user: UserView(updated))
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        let id = try context.parameters.id("id", "User")
        let isOwner = principal.role == .owner
        try await services.store.deleteUser(id: id, companyID: principal.companyID, actor: principal.actor,
                                            origin: services.origin(request, context)) { current in
            if current.role == .owner && !isOwner { throw ServiceError.forbidden }
        }
        return Response(status: .noContent)
    }

    private func requireOwner(_ principal: Principal) throws(ServiceError) {
        guard principal.role == .owner else { throw .forbidden }
    }
}
