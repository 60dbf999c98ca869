import Foundation
import GRDB

/// The biometric retention schedule's side of the store: who has been idle, and destroying their faces.
extension Store {
    /// A person with faces, and their last interaction.
    struct IdlePerson: Sendable {
        var id: Int64
        var fullName: String
        var externalID: String?
        var timekeeperID: String?
        var faces: Int
        var lastSeen: Date
    }

    /// Records a match of the person (inside the access log's append).
    static func touch(personID: Int64, companyID: Int64, at: Date, db: Database) throws {
        try db.execute(sql: """
            INSERT INTO personActivity (personID, companyID, lastSeenAt)
            SELECT id, companyID, ? FROM persons WHERE id = ? AND companyID = ?
            ON CONFLICT (personID) DO UPDATE SET lastSeenAt = max(lastSeenAt, excluded.lastSeenAt)
            """, arguments: [at, personID, companyID])
    }

    func idleBiometrics(companyID: Int64, before: Date, afterID: Int64, limit: Int) async throws -> [IdlePerson] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT p.id, p.fullName, p.externalID, p.timekeeperID, COUNT(f.id) AS faces, MAX(f.createdAt) AS lastFace,
                       a.lastSeenAt AS lastMatch
                FROM persons p JOIN faces f ON f.personID = p.id
                LEFT JOIN personActivity a ON a.personID = p.id
                WHERE p.companyID = ? AND p.deletedAt IS NULL AND p.id > ?
                GROUP BY p.id
                HAVING MAX(f.createdAt) < ? AND (a.lastSeenAt IS NULL OR a.lastSeenAt < ?)
                ORDER BY p.id LIMIT ?
                """, arguments: [companyID, afterID, before, before, limit]).map { row in
                let lastFace: Date = row["lastFace"]
                let lastMatch: Date? = row["lastMatch"]
                return IdlePerson(id: row["id"], fullName: row["fullName"], externalID: row["externalID"], timekeeperID: row["timekeeperID"],
                                  faces: row["faces"], lastSeen: max(lastFace, lastMatch ?? lastFace))
            }
        }
    }

    func retentionDelete(companyID: Int64, personIDs: [Int64], days: Int) async throws -> Int {
        guard !personIDs.isEmpty else { return 0 }
        return try await pool.write { db in
            let faces = try FaceRecord.filter(Column("companyID") == companyID && personIDs.contains(Column("personID"))).fetchAll(db)
            try Self.removeFaces(faces, db: db)
            // An employee's registration older than this is stale (as after a kiosk delete).
            try PersonRecord.filter(personIDs.contains(Column("id")) && Column("companyID") == companyID && Column("timekeeperID") != nil)
                .updateAll(db, Column("faceDeletedAt").set(to: Date()))
            try AuditLog.append(AuditEvent(action: "face.retention_delete", actor: "system:retention", target: "company:\(companyID)", detail: [
                "faces_deleted": String(faces.count), "persons": AuditLog.idList(personIDs), "retention_days": String(days),
            ], origin: .unknown), companyID: companyID, db: db)
            return faces.count
        }
    }
}
