import Foundation
import GRDB

/// Which faces carry which model's embeddings: the re-embedding job's batches, `/models/status`, the fallback searches.
extension Store {
    /// The company's faces without an embedding of `model`, in id order after `afterID`: id and person.
    func facesLacking(_ model: RecognitionModel, companyID: Int64, afterID: Int64, limit: Int) async throws -> [(faceID: Int64, personID: Int64)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT f.id, f.personID FROM faces f INDEXED BY faces_company_id WHERE f.companyID = ? AND f.id > ? AND f.modelID != ?
                AND NOT EXISTS (SELECT 1 FROM faceEmbeddings e WHERE e.faceID = f.id AND e.modelID = ?)
                ORDER BY f.id LIMIT ?
                """, arguments: [companyID, afterID, model.rawValue, model.rawValue, limit]).map { ($0["id"], $0["personID"]) }
        }
    }

    /// Persons with faces lacking `model`'s embedding (id order, at most `limit`): each with how many such faces.
    func personsLacking(_ model: RecognitionModel, companyID: Int64, limit: Int) async throws -> (count: Int, persons: [(PersonRecord, Int)]) {
        try await pool.read { db in
            let lacking = """
                FROM faces f WHERE f.companyID = ? AND f.modelID != ?
                AND NOT EXISTS (SELECT 1 FROM faceEmbeddings e WHERE e.faceID = f.id AND e.modelID = ?)
                """
            let arguments: StatementArguments = [companyID, model.rawValue, model.rawValue]
            let limited: StatementArguments = [companyID, model.rawValue, model.rawValue, limit]
            let countSQL = "SELECT COUNT(DISTINCT f.personID) " + lacking
            let listSQL = "SELECT f.personID, COUNT(*) AS faces " + lacking + " GROUP BY f.personID ORDER BY f.personID LIMIT ?"
            let count = try Int.fetchOne(db, sql: countSQL, arguments: arguments) ?? 0
            let rows = try Row.fetchAll(db, sql: listSQL, arguments: limited)
            let records = Dictionary(uniqueKeysWithValues: try PersonRecord.byIDs(rows.map { $0["personID"] }, companyID: companyID)
                .fetchAll(db).map { ($0.id!, $0) })
            return (count, rows.compactMap { row in records[row["personID"]].map { ($0, row["faces"]) } })
        }
    }

    /// Whether the company has faces whose only embedding is `model`'s (its row's model: dlib goes on the row whenever a
    /// face has it).
    func hasFaces(onlyOf model: RecognitionModel, companyID: Int64) async throws -> Bool {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT 1 FROM faces WHERE companyID = ? AND modelID = ? LIMIT 1",
                             arguments: [companyID, model.rawValue]) != nil
        }
    }

    /// The model on each face's row (the face's main embedding).
    func rowModels(ofFaces faceIDs: [Int64], companyID: Int64) async throws -> [Int64: String] {
        guard !faceIDs.isEmpty else { return [:] }
        return try await pool.read { db in
            let placeholders = Array(repeating: "?", count: faceIDs.count).joined(separator: ",")
            var models: [Int64: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, modelID FROM faces WHERE +companyID = ? AND id IN (\(placeholders))",
                                        arguments: StatementArguments([companyID] + faceIDs)) {
                models[row["id"]] = row["modelID"]
            }
            return models
        }
    }

    /// How many of the company's faces have an embedding of each model.
    func embeddingCounts(companyID: Int64) async throws -> (faces: Int, with: [RecognitionModel: Int]) {
        try await pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM faces WHERE companyID = ?", arguments: [companyID]) ?? 0
            var with: [RecognitionModel: Int] = [:]
            for model in RecognitionModel.allCases {
                let onRow = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM faces WHERE companyID = ? AND modelID = ?",
                                             arguments: [companyID, model.rawValue]) ?? 0
                let extra = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM faceEmbeddings WHERE companyID = ? AND modelID = ?",
                                             arguments: [companyID, model.rawValue]) ?? 0
                with[model] = onRow + extra
            }
            return (total, with)
        }
    }
}
