import Foundation
import PostgresNIO

/// The biometric retention schedule on PostgreSQL (`Store+Retention.swift` says what it is).
extension PostgresStore {
    func idleBiometrics(companyID: Int64, before: Date, afterID: Int64, limit: Int) async throws -> [Store.IdlePerson] {
        var found: [Store.IdlePerson] = []
        for try await (id, name, external, timekeeper, faces, lastFace, lastMatch) in try await fetch("""
            SELECT p.id, p.full_name, p.external_id, p.timekeeper_id, count(f.id), max(f.created_at), a.last_seen_at
            FROM persons p JOIN faces f ON f.person_id = p.id
            LEFT JOIN person_activity a ON a.person_id = p.id
            WHERE p.company_id = \(companyID) AND p.deleted_at IS NULL AND p.id > \(afterID)
            GROUP BY p.id, a.last_seen_at
            HAVING max(f.created_at) < \(before) AND (a.last_seen_at IS NULL OR a.last_seen_at < \(before))
            ORDER BY p.id LIMIT \(Int64(limit))
            """, logger: logger).decode((Int64, String, String?, String?, Int64, Date, Date?).self) {
            found.append(Store.IdlePerson(id: id, fullName: name, externalID: external, timekeeperID: timekeeper, faces: Int(faces),
                                          lastSeen: max(lastFace, lastMatch ?? lastFace)))
        }
        return found
    }

    func retentionDelete(companyID: Int64, personIDs: [Int64], days: Int) async throws -> Int {
        guard !personIDs.isEmpty else { return 0 }
        return try await transaction(lockingCompany: companyID) { connection in
            let faces = try await connection.run(
                "DELETE FROM faces WHERE company_id = \(companyID) AND person_id = ANY(\(personIDs)) RETURNING id", logger: logger
            ).decode(Int64.self).elements()
            _ = try await connection.run("""
                UPDATE persons SET face_deleted_at = now()
                WHERE company_id = \(companyID) AND id = ANY(\(personIDs)) AND timekeeper_id IS NOT NULL
                """, logger: logger)
            try await appendAudit(AuditEvent(action: "face.retention_delete", actor: "system:retention", target: "company:\(companyID)", detail: [
                "faces_deleted": String(faces.count), "persons": AuditLog.idList(personIDs), "retention_days": String(days),
            ], origin: .unknown), companyID: companyID, on: connection, now: Date())
            return faces.count
        }
    }
}
