import Foundation
import Hummingbird

/// A person's consent (`GET/PUT/DELETE /persons/{id}/consent`) and subject access (`GET /persons/{id}/export`).
struct PrivacyController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.get, "/persons/{id}/consent", .readPersons, use: consent)
        routes.on(.put, "/persons/{id}/consent", .managePersons, use: recordConsent)
        routes.on(.delete, "/persons/{id}/consent", .managePersons, use: withdrawConsent)
        routes.on(.get, "/persons/{id}/export", .exportPersonData, use: export)
        routes.on(.get, "/privacy/retention", .readAudit, use: retention)
    }

    /// The company's written retention schedule and what it destroys in the next 30 days (the first 100, soonest first).
    @Sendable func retention(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> RetentionResponse {
        let days = (context.companySettings ?? services.defaultSettings).biometricRetentionDays
        let due = try await services.biometricRetention.due(companyID: principal.companyID, days: days, window: 30 * 86_400, limit: 100)
        return RetentionResponse(days: days, due: due)
    }

    @Sendable func consent(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> ConsentResponse {
        let id = try context.parameters.id("id", "Person")
        guard try await services.store.person(id: id, companyID: principal.companyID) != nil else { throw ServiceError.notFound("Person") }
        let found = try await services.store.consents(personIDs: [id], companyID: principal.companyID)[id]
        return ConsentResponse(personId: id, consent: found.map(ConsentView.init))
    }

    /// Records (or replaces) the consent: when and how it was obtained, under which document version; audited.
    @Sendable func recordConsent(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> ConsentResponse {
        let id = try context.parameters.id("id", "Person")
        let body = try await request.decodeJSON(ConsentRequest.self, limit: services.configuration.maxBodySize)
        guard let obtainedAt = Timestamp.parse(body.obtainedAt) else {
            throw ServiceError.invalidField("obtained_at", "expected an RFC 3339 time or Unix seconds")
        }
        let version = try Validate.name(body.documentVersion, field: "document_version", maximum: 100)
        let recorded = try await services.privacy.recordConsent(
            personID: id, obtainedAt: obtainedAt, method: body.method, documentVersion: version, principal: principal,
            origin: services.origin(request, context), now: services.clock.now)
        return ConsentResponse(personId: id, consent: ConsentView(recorded))
    }

    /// Withdraws the consent (audited); the faces stay until deleted — with `require_consent` no new face is stored.
    @Sendable func withdrawConsent(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        let id = try context.parameters.id("id", "Person")
        guard try await services.store.withdrawConsent(personID: id, companyID: principal.companyID, actor: principal.actor,
                                                       origin: services.origin(request, context)) else {
            throw ServiceError.notFound("Consent")
        }
        return Response(status: .noContent)
    }

    @Sendable func export(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> PersonExport {
        let id = try context.parameters.id("id", "Person")
        let export = try await services.privacy.export(personID: id, principal: principal, origin: services.origin(request, context))
        return PersonExport(export, at: services.clock.now)
    }
}
