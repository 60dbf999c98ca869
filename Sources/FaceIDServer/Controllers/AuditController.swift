import Foundation
import Hummingbird

/// `GET /audit` (filters `from`, `to`, `actor`, `action`, `target`; `limit` ≤ 500; `cursor` for older pages) and `GET /audit/verify`
/// (the chain link by link, and its newest event against the signed head kept outside the store).
struct AuditController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.get, "/audit", .readAudit, use: list)
        routes.on(.get, "/audit/verify", .readAudit, use: verify)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> AuditPage {
        let limit = try request.pageLimit()
        let filter = Store.AuditFilter(
            from: try request.queryTime("from"), to: try request.queryTime("to"),
            actor: request.query("actor"), action: request.query("action"), target: request.query("target"),
            beforeID: try request.queryID("cursor"), limit: limit)
        let events = try await services.store.auditEvents(companyID: principal.companyID, filter: filter)
        return AuditPage(events: events.map(AuditEventView.init),
                         nextCursor: Page.nextCursor(count: events.count, limit: limit, lastID: events.last?.id))
    }

    @Sendable func verify(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> AuditVerification {
        let result = try await services.store.verifyAudit(companyID: principal.companyID, head: services.auditHead)
        let headHolds = [.anchored, .empty].contains(result.head)
        return AuditVerification(intact: result.chain.intact && headHolds, eventCount: result.chain.eventCount,
                                 firstBrokenId: result.chain.firstBrokenID,
                                 head: AuditHeadView(status: result.head.rawValue, eventsAfterHead: result.eventsAfterHead))
    }
}
