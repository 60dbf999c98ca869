import Foundation
import PostgresNIO

/// Consent records on PostgreSQL (`Store+Consents.swift` says what they are).
extension PostgresStore {
    func setConsent(_ consent: ConsentRecord, origin: RequestOrigin) async throws {
        try await transaction(lockingCompany: consent.companyID) { connection in
            guard try await personRecord(id: consent.personID, companyID: consent.companyID, on: connection) != nil else {
                throw StoreError.notFound(.person)
            }
            _ = try await connection.run("""
                INSERT INTO consents (person_id, company_id, obtained_at, method, document_version, recorded_by, recorded_at)
                VALUES (\(consent.personID), \(consent.companyID), \(consent.obtainedAt), \(consent.method), \(consent.documentVersion),
                        \(consent.recordedBy), \(consent.recordedAt))
                ON CONFLICT (person_id) DO UPDATE SET obtained_at = EXCLUDED.obtained_at, method = EXCLUDED.method,
                    document_version = EXCLUDED.document_version, recorded_by = EXCLUDED.recorded_by, recorded_at = EXCLUDED.recorded_at
                """, logger: logger)
            try await appendAudit(AuditEvent(action: "person.consent", actor: consent.recordedBy, target: "person:\(consent.personID)",
                                             detail: Store.consentDetail(consent), origin: origin),
                                  companyID: consent.companyID, on: connection, now: Date())
        }
    }

    func withdrawConsent(personID: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws -> Bool {
        try await transaction(lockingCompany: companyID) { connection in
            guard try await personRecord(id: personID, companyID: companyID, on: connection) != nil else { throw StoreError.notFound(.person) }
            let removed = try await connection.run(
                "DELETE FROM consents WHERE person_id = \(personID) AND company_id = \(companyID) RETURNING person_id", logger: logger
            ).decode(Int64.self).elements()
            guard !removed.isEmpty else { return false }
            try await appendAudit(AuditEvent(action: "person.consent_withdrawn", actor: actor, target: "person:\(personID)", origin: origin),
                                  companyID: companyID, on: connection, now: Date())
            return true
        }
    }

    func consents(personIDs: [Int64], companyID: Int64) async throws -> [Int64: ConsentRecord] {
        guard !personIDs.isEmpty else { return [:] }
        var found: [Int64: ConsentRecord] = [:]
        for try await (person, company, obtained, method, version, by, at) in try await fetch("""
            SELECT person_id, company_id, obtained_at, method, document_version, recorded_by, recorded_at FROM consents
            WHERE company_id = \(companyID) AND person_id = ANY(\(personIDs))
            """, logger: logger).decode((Int64, Int64, Date, String, String, String, Date).self) {
            found[person] = ConsentRecord(personID: person, companyID: company, obtainedAt: obtained, method: method,
                                          documentVersion: version, recordedBy: by, recordedAt: at)
        }
        return found
    }
}
