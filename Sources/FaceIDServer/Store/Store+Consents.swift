import Foundation
import GRDB

/// Consent records: one per person, replaced when recorded again, gone with the person; every change audited.
extension Store {
    func setConsent(_ consent: ConsentRecord, origin: RequestOrigin) async throws {
        try await pool.write { db in
            guard try Self.personRecord(id: consent.personID, companyID: consent.companyID, db: db) != nil else {
                throw StoreError.notFound(.person)
            }
            try consent.save(db)
            try AuditLog.append(AuditEvent(action: "person.consent", actor: consent.recordedBy, target: "person:\(consent.personID)",
                                           detail: Self.consentDetail(consent), origin: origin),
                                companyID: consent.companyID, db: db)
        }
    }

    func withdrawConsent(personID: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws -> Bool {
        try await pool.write { db in
            guard try Self.personRecord(id: personID, companyID: companyID, db: db) != nil else { throw StoreError.notFound(.person) }
            try db.execute(sql: "DELETE FROM consents WHERE personID = ? AND companyID = ?", arguments: [personID, companyID])
            guard db.changesCount > 0 else { return false }
            try AuditLog.append(AuditEvent(action: "person.consent_withdrawn", actor: actor, target: "person:\(personID)", origin: origin),
                                companyID: companyID, db: db)
            return true
        }
    }

    func consents(personIDs: [Int64], companyID: Int64) async throws -> [Int64: ConsentRecord] {
        guard !personIDs.isEmpty else { return [:] }
        return try await pool.read { db in
            var found: [Int64: ConsentRecord] = [:]
            for chunk in stride(from: 0, to: personIDs.count, by: 500).map({ personIDs[$0..<min($0 + 500, personIDs.count)] }) {
                for consent in try ConsentRecord.filter(Column("companyID") == companyID && chunk.contains(Column("personID"))).fetchAll(db) {
                    found[consent.personID] = consent
                }
            }
            return found
        }
    }

    /// What the audit keeps of a consent: how and when it was given, and under which document.
    static func consentDetail(_ consent: ConsentRecord) -> [String: String] {
        ["obtained_at": Timestamp.format(consent.obtainedAt), "method": consent.method, "document_version": consent.documentVersion]
    }
}
