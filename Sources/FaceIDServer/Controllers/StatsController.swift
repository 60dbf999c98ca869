import Foundation
import Hummingbird

/// `GET /stats/overview`: the console's overview — people, faces, kiosks, searches today, searches per day by decision
/// and the busiest locations, in the caller's time zone (`utc_offset`, minutes east of UTC).
struct StatsController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.get, "/stats/overview", .readAccessLog, use: overview)
    }

    @Sendable func overview(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> OverviewResponse {
        let overview = try await services.statistics.overview(
            companyID: principal.companyID, days: try request.query("days", in: 1...90) ?? 30,
            utcOffsetMinutes: try request.query("utc_offset", in: -840...840) ?? 0)
        return OverviewResponse(overview)
    }
}
