import Foundation
import Hummingbird

/// `DELETE /company`: the owner deletes the company, re-authenticated, with the confirmation phrase (`CompanyDeletion`).
struct CompanyController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.delete, "/company", .deleteCompany, use: delete)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> CompanyDeletionResponse {
        let body = try await request.decodeJSON(DeleteCompanyRequest.self, limit: services.configuration.maxBodySize)
        let report = try await services.companyDeletion.delete(principal: principal, password: body.password,
                                                               confirmation: body.confirmation, origin: services.origin(request, context))
        return CompanyDeletionResponse(report)
    }
}
