import Foundation
import Hummingbird

/// `POST /api-keys` (the key is in this response only), `GET /api-keys`, `DELETE /api-keys/{id}`.
struct APIKeysController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/api-keys", .manageAPIKeys, use: create)
        routes.on(.get, "/api-keys", .manageAPIKeys, use: list)
        routes.on(.delete, "/api-keys/{id}", .manageAPIKeys, use: revoke)
    }

    @Sendable func create(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Created<CreatedAPIKey> {
        let body = try await request.decodeJSON(CreateAPIKeyRequest.self, limit: services.configuration.maxBodySize)
        let name = try Validate.name(body.name, field: "name")
        guard !body.scopes.isEmpty else { throw ServiceError.invalidField("scopes", "at least one scope") }
        var scopes: [Scope] = []
        for text in body.scopes {
            guard let scope = Scope(rawValue: text) else { throw ServiceError.invalidScope(text) }
            if !scopes.contains(scope) { scopes.append(scope) }
        }
        let (key, prefix) = Credentials.newAPIKey()
        let record = APIKeyRecord(
            id: nil, companyID: principal.companyID, name: name, prefix: prefix, secretHash: Credentials.hash(key),
            scopes: scopes.map(\.rawValue).joined(separator: ","), createdAt: Date(), createdBy: principal.actor,
            lastUsedAt: nil, revokedAt: nil)
        let created = try await services.store.createAPIKey(record, origin: services.origin(request, context))
        return Created(value: CreatedAPIKey(apiKey: APIKeyView(created), key: key))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> APIKeyList {
        APIKeyList(apiKeys: try await services.store.apiKeys(companyID: principal.companyID).map(APIKeyView.init))
    }

    @Sendable func revoke(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        let id = try context.parameters.id("id", "API key")
        try await services.store.revokeAPIKey(id: id, companyID: principal.companyID, actor: principal.actor,
                                              origin: services.origin(request, context))
        return Response(status: .noContent)
    }
}
