import Foundation
import GRDB

/// The face feed `faceChanges`: appended in the transaction of every face insert and delete, read by the index in order,
/// and the quarantine of faces whose sealed encoding no longer opens.
extension Store {
    static func appendChange(_ operation: FaceOperation, face: FaceRecord, db: Database, now: Date) throws {
        try db.execute(
            sql: "INSERT INTO faceChanges (companyID, faceID, personID, op, atMicros) VALUES (?, ?, ?, ?, ?)",
            arguments: [face.companyID, face.id, face.personID, operation.rawValue, Int64(now.timeIntervalSince1970 * 1e6)])
    }

    /// The company's feed after `seq`, oldest first, at most `limit` entries.
    func faceChanges(companyID: Int64, after seq: Int64, limit: Int) async throws -> [FaceChange] {
        try await pool.read { db in
            var changes = try Row.fetchAll(db, sql: """
                SELECT c.seq, c.faceID, c.personID, c.op, f.sealedEncoding, f.modelID FROM faceChanges c
                LEFT JOIN faces f ON f.id = c.faceID AND c.op = 'upsert'
                WHERE c.companyID = ? AND c.seq > ? ORDER BY c.seq LIMIT ?
                """, arguments: [companyID, seq, limit]
            ).map { row in
                var change = FaceChange(seq: row["seq"], faceID: row["faceID"], personID: row["personID"],
                                        operation: FaceOperation(rawValue: row["op"]) ?? .delete)
                if let sealed: Data = row["sealedEncoding"], let model = RecognitionModel(rawValue: row["modelID"] ?? "") {
                    change.embeddings = [SealedEmbedding(model: model, sealed: sealed,
                                                         recordID: Self.embeddingRecordID(faceID: change.faceID, model: model, onRow: true))]
                }
                return change
            }
            let upserted = Array(Set(changes.filter { !$0.embeddings.isEmpty }.map(\.faceID)))
            guard !upserted.isEmpty else { return changes }
            var extra: [Int64: [SealedEmbedding]] = [:]
            for chunk in stride(from: 0, to: upserted.count, by: 500).map({ Array(upserted[$0..<min($0 + 500, upserted.count)]) }) {
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                for row in try Row.fetchAll(db, sql: "SELECT faceID, modelID, sealedEmbedding FROM faceEmbeddings WHERE faceID IN (\(placeholders))",
                                            arguments: StatementArguments(chunk)) {
                    let faceID: Int64 = row["faceID"]
                    guard let model = RecognitionModel(rawValue: row["modelID"]) else { continue }
                    extra[faceID, default: []].append(SealedEmbedding(
                        model: model, sealed: row["sealedEmbedding"], recordID: Self.embeddingRecordID(faceID: faceID, model: model, onRow: false)))
                }
            }
            for i in changes.indices where !changes[i].embeddings.isEmpty {
                changes[i].embeddings += extra[changes[i].faceID] ?? []
            }
            return changes
        }
    }

    /// The company's last face feed sequence number (0 before any change).
    func lastFaceChange(companyID: Int64) async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM faceChanges WHERE companyID = ?", arguments: [companyID]) ?? 0
        }
    }

    /// Every company that has a feed, and its wrapped data key.
    func companiesWithFaces() async throws -> [(Int64, Data)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, wrappedKey FROM companies WHERE id IN (SELECT DISTINCT companyID FROM faceChanges) ORDER BY id
                """).map { ($0["id"], $0["wrappedKey"]) }
        }
    }

    // MARK: Quarantine

    /// Sets a damaged face aside (its sealed encoding does not open): audited `face.quarantine` once, then left out of kiosk
    /// lists. True when this call quarantined it (false: already quarantined, or the face is gone).
    func quarantine(faceID: Int64, companyID: Int64, reason: String) async throws -> Bool {
        try await pool.write { db in
            guard let face = try FaceRecord.owned(faceID, companyID: companyID, db: db) else { return false }
            try db.execute(sql: "INSERT OR IGNORE INTO quarantinedFaces (faceID, companyID, reason, at) VALUES (?, ?, ?, ?)",
                           arguments: [faceID, companyID, reason, Date()])
            guard db.changesCount > 0 else { return false }
            try AuditLog.append(
                AuditEvent(action: "face.quarantine", actor: "system", target: "face:\(faceID)",
                           detail: ["person": "person:\(face.personID)", "reason": reason], origin: .unknown),
                companyID: companyID, db: db)
            return true
        }
    }

    /// How many faces are quarantined, server-wide (`/readyz`).
    func quarantinedFaceCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM quarantinedFaces") ?? 0 }
    }
}
