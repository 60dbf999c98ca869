import Foundation
import PostgresNIO

/// Published index models on PostgreSQL (migration v10): the claim is one conditional upsert; the publication takes the
/// company's feed counter first, so two nodes publishing at once take turns and the second finds the first's model.
extension PostgresStore: IndexModelRepository {
    func claimModelTraining(companyID: Int64, space: String, node: String, now: Date, until: Date) async throws -> ModelClaim {
        try await inTransaction("BEGIN") { connection in
            if try await hasModel(companyID: companyID, space: space, on: connection) { return .published }
            let won = try await connection.run("""
                INSERT INTO index_model_claims AS c (company_id, space, node, expires_at) VALUES (\(companyID), \(space), \(node), \(until))
                ON CONFLICT (company_id, space) DO UPDATE SET node = EXCLUDED.node, expires_at = EXCLUDED.expires_at
                WHERE c.expires_at < \(now) OR c.node = EXCLUDED.node
                RETURNING node
                """, logger: logger).decode(String.self).elements()
            return won.isEmpty ? .heldElsewhere : .claimed
        }
    }

    func publishIndexModel(companyID: Int64, space: String, sealed: Data, node: String, at: Date) async throws -> Int64? {
        do {
            return try await inTransaction("BEGIN") { connection in
                // The counter row, locked until commit: a concurrent publisher waits here, then sees this model below.
                _ = try await connection.run("SELECT feed_append(\(companyID), 0, NULL, 'model', FALSE)", logger: logger)
                if try await hasModel(companyID: companyID, space: space, on: connection) { throw AlreadyPublished() }
                guard let seq = try await connection.run("SELECT last_seq FROM feed_heads WHERE company_id = \(companyID)", logger: logger)
                    .decode(Int64.self).elements().first else {
                    throw StoreError.inconsistent("feed_append left no counter row for company \(companyID)")
                }
                _ = try await connection.run("""
                    INSERT INTO index_models (company_id, space, seq, sealed_model, trained_by, created_at)
                    VALUES (\(companyID), \(space), \(seq), \(sealed), \(node), \(at))
                    """, logger: logger)
                _ = try await connection.run("DELETE FROM index_model_claims WHERE company_id = \(companyID) AND space = \(space)",
                                             logger: logger)
                return seq
            }
        } catch is AlreadyPublished {
            return nil
        }
    }

    func indexModels(companyID: Int64) async throws -> [Store.PublishedModel] {
        try await fetch("SELECT seq, space, sealed_model FROM index_models WHERE company_id = \(companyID) ORDER BY seq", logger: logger)
            .decode((Int64, String, Data).self).elements().map { Store.PublishedModel(seq: $0.0, space: $0.1, sealed: $0.2) }
    }

    private func hasModel(companyID: Int64, space: String, on connection: PostgresConnection) async throws -> Bool {
        try await !connection.run("SELECT 1 FROM index_models WHERE company_id = \(companyID) AND space = \(space)", logger: logger)
            .decode(Int32.self).elements().isEmpty
    }

    /// Rolls the publication back: the space has its model.
    private struct AlreadyPublished: Error {}
}
