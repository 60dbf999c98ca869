import Foundation
import GRDB

/// Published index models on SQLite (migration v13). One process writes here, but the rule is the shared store's: the model
/// travels through the feed, so a rebuilt index installs the model it had instead of training another.
extension Store: IndexModelRepository {
    func claimModelTraining(companyID: Int64, space: String, node: String, now: Date, until: Date) async throws -> ModelClaim {
        try await pool.write { db in
            if try Self.hasModel(companyID: companyID, space: space, db: db) { return .published }
            try db.execute(sql: """
                INSERT INTO indexModelClaims (companyID, space, node, expiresAt) VALUES (?, ?, ?, ?)
                ON CONFLICT (companyID, space) DO UPDATE SET node = excluded.node, expiresAt = excluded.expiresAt
                WHERE indexModelClaims.expiresAt < ? OR indexModelClaims.node = excluded.node
                """, arguments: [companyID, space, node, until.timeIntervalSince1970, now.timeIntervalSince1970])
            return db.changesCount > 0 ? .claimed : .heldElsewhere
        }
    }

    func publishIndexModel(companyID: Int64, space: String, sealed: Data, node: String, at: Date) async throws -> Int64? {
        try await pool.write { db -> Int64? in
            if try Self.hasModel(companyID: companyID, space: space, db: db) { return nil }
            try db.execute(sql: """
                INSERT INTO changes (companyID, personID, faceID, op, employee, atMicros) VALUES (?, 0, NULL, 'model', 0, ?)
                """, arguments: [companyID, Int64(at.timeIntervalSince1970 * 1_000_000)])
            let seq = db.lastInsertedRowID
            try db.execute(sql: """
                INSERT INTO indexModels (companyID, space, seq, sealedModel, trainedBy, createdAt) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [companyID, space, seq, sealed, node, at.timeIntervalSince1970])
            try db.execute(sql: "DELETE FROM indexModelClaims WHERE companyID = ? AND space = ?", arguments: [companyID, space])
            return seq
        }
    }

    func indexModels(companyID: Int64) async throws -> [Store.PublishedModel] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, space, sealedModel FROM indexModels WHERE companyID = ? ORDER BY seq",
                             arguments: [companyID]).map { Store.PublishedModel(seq: $0["seq"], space: $0["space"], sealed: $0["sealedModel"]) }
        }
    }

    private static func hasModel(companyID: Int64, space: String, db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM indexModels WHERE companyID = ? AND space = ?", arguments: [companyID, space]) ?? false
    }
}
