import Foundation

/// The data subject's side of biometric processing: consent (recorded per person; with the company's `require_consent`
/// nothing of a person's face is stored without it) and subject access (GDPR Art. 15/20: everything faceid holds about
/// a person, in one document, never an embedding).
struct Privacy: Sendable {
    let store: any PersonRepository & LogRepository

    /// How consent was given.
    static let methods = ["written", "electronic"]

    /// 409 `consent_required` (naming the first person without one) when the company requires consent and one of
    /// `personIDs` has none; nil in `personIDs` is a person the request would create, who cannot have consented yet.
    static func requireConsent(_ personIDs: [Int64?], settings: CompanySettings, companyID: Int64,
                               store: any PersonRepository) async throws {
        guard settings.requireConsent, !personIDs.isEmpty else { return }
        guard personIDs.allSatisfy({ $0 != nil }) else { throw ServiceError.consentRequired(personID: nil) }
        let ids = Array(Set(personIDs.compactMap { $0 }))
        let consents = try await store.consents(personIDs: ids, companyID: companyID)
        if let missing = ids.sorted().first(where: { consents[$0] == nil }) { throw ServiceError.consentRequired(personID: missing) }
    }

    /// Records a person's consent; `obtainedAt` may not lie in the future.
    func recordConsent(personID: Int64, obtainedAt: Date, method: String, documentVersion: String, principal: Principal,
                       origin: RequestOrigin, now: Date) async throws -> ConsentRecord {
        guard Self.methods.contains(method) else {
            throw ServiceError.invalidField("method", "expected " + Self.methods.joined(separator: " or "))
        }
        guard obtainedAt <= now.addingTimeInterval(300) else { throw ServiceError.invalidField("obtained_at", "lies in the future") }
        let consent = ConsentRecord(personID: personID, companyID: principal.companyID, obtainedAt: obtainedAt, method: method,
                                    documentVersion: documentVersion, recordedBy: principal.actor, recordedAt: now)
        try await store.setConsent(consent, origin: origin)
        return consent
    }

    /// Everything about one person: the record, the consent, the faces' metadata, every access-log entry that names
    /// them and every audit event about them or one of their faces.
    struct Export: Sendable {
        var person: Store.Person
        var consent: ConsentRecord?
        var faces: [FaceRecord]
        var accessLog: [AccessRecord]
        var audit: [AuditRecord]
    }

    /// The person's export, audited `person.export` (with what it held) after it was read.
    func export(personID: Int64, principal: Principal, origin: RequestOrigin) async throws -> Export {
        let companyID = principal.companyID
        guard let person = try await store.person(id: personID, companyID: companyID),
              let faces = try await store.faces(personID: personID, companyID: companyID) else { throw StoreError.notFound(.person) }
        let consent = try await store.consents(personIDs: [personID], companyID: companyID)[personID]
        let accessLog = try await Self.allPages(id: \.id) { before in
            try await store.accessEntries(companyID: companyID, filter: Store.AccessFilter(
                personID: personID, beforeID: before, limit: Limits.listPage.upperBound))
        }
        var audit: [AuditRecord] = []
        for target in ["person:\(personID)"] + faces.map({ "face:\($0.id!)" }) {
            audit += try await Self.allPages(id: \.id) { before in
                try await store.auditEvents(companyID: companyID, filter: Store.AuditFilter(
                    target: target, beforeID: before, limit: Limits.listPage.upperBound))
            }
        }
        audit.sort { $0.id! < $1.id! }
        try await store.audit(AuditEvent(action: "person.export", actor: principal.actor, target: "person:\(personID)", detail: [
            "faces": String(faces.count), "access_entries": String(accessLog.count), "audit_events": String(audit.count),
        ], origin: origin), companyID: companyID)
        return Export(person: person, consent: consent, faces: faces, accessLog: accessLog, audit: audit)
    }

    /// Every row of a newest-first read paged by "ids below the last one seen": pages until one comes back short.
    static func allPages<Row>(id: (Row) -> Int64?, _ page: (Int64?) async throws -> [Row]) async throws -> [Row] {
        var rows: [Row] = []
        var before: Int64?
        repeat {
            let found = try await page(before)
            rows += found
            before = found.count == Limits.listPage.upperBound ? found.last.flatMap(id) : nil
        } while before != nil
        return rows
    }
}
