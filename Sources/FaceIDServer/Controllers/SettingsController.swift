import Foundation
import Hummingbird

/// `GET /settings`, `PATCH /settings`.
struct SettingsController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.get, "/settings", .readSettings, use: show)
        routes.on(.patch, "/settings", .manageSettings, use: update)
    }

    @Sendable func show(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> SettingsResponse {
        SettingsResponse(settings: context.companySettings ?? services.defaultSettings)
    }

    @Sendable func update(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> SettingsResponse {
        let patch = try await request.decodeJSON(CompanySettings.Patch.self, limit: services.configuration.maxBodySize)
        return SettingsResponse(settings: try await services.tenancy.updateSettings(patch, principal: principal,
                                                                                  origin: services.origin(request, context)))
    }
}
