import Foundation
import Logging
import PostgresNIO

/// The one feed on PostgreSQL (`FeedRepository`): numbered per company by the triggers of migration v2, each company's
/// rows gapless and in commit order. The index reads its face rows, kiosks its employee rows.
extension PostgresStore: FeedRepository, FeedFollowing {
    /// Where the company's feed stands and how far it was purged.
    func feedHead(companyID: Int64, on connection: PostgresConnection) async throws -> Store.FeedHead {
        let last = try await connection.run("SELECT last_seq FROM feed_heads WHERE company_id = \(companyID)", logger: logger)
            .decode(Int64.self).elements().first ?? 0
        let purged = try await connection.run("SELECT purged_through_seq FROM sync_state WHERE company_id = \(companyID)", logger: logger)
            .decode(Int64.self).elements().first ?? 0
        return Store.FeedHead(lastSeq: max(last, purged), purgedThrough: purged)
    }

    func feedHead(companyID: Int64) async throws -> Store.FeedHead {
        try await client.withConnection { connection in try await feedHead(companyID: companyID, on: connection) }
    }

    func feedPosition(companyID: Int64) async throws -> Int64 {
        try await feedHead(companyID: companyID).lastSeq
    }

    func purgedThrough(companyID: Int64) async throws -> Int64 {
        try await feedHead(companyID: companyID).purgedThrough
    }

    /// The embedding on each found face's row, then its other embeddings.
    private func withEmbeddings(_ rows: [(change: Store.FaceChange, sealed: Data?, model: String?)],
                                on connection: PostgresConnection) async throws -> [Store.FaceChange] {
        var changes = rows.map { row -> Store.FaceChange in
            var change = row.change
            if let sealed = row.sealed, let model = RecognitionModel(rawValue: row.model ?? "") {
                change.embeddings = [Store.SealedEmbedding(model: model, sealed: sealed,
                                                           recordID: Store.embeddingRecordID(faceID: change.faceID, model: model, onRow: true))]
            }
            return change
        }
        let found = Array(Set(changes.filter { !$0.embeddings.isEmpty }.map(\.faceID)))
        guard !found.isEmpty else { return changes }
        var extra: [Int64: [Store.SealedEmbedding]] = [:]
        for try await (faceID, modelID, sealed) in try await connection.run(
            "SELECT face_id, model_id, sealed_embedding FROM face_embeddings WHERE face_id = ANY(\(found))", logger: logger
        ).decode((Int64, String, Data).self) {
            guard let model = RecognitionModel(rawValue: modelID) else { continue }
            extra[faceID, default: []].append(Store.SealedEmbedding(
                model: model, sealed: sealed, recordID: Store.embeddingRecordID(faceID: faceID, model: model, onRow: false)))
        }
        for i in changes.indices where !changes[i].embeddings.isEmpty { changes[i].embeddings += extra[changes[i].faceID] ?? [] }
        return changes
    }

    /// Read in one REPEATABLE READ transaction, so the position agrees with the rows.
    func faceChanges(companyID: Int64, after seq: Int64, limit: Int) async throws -> (changes: [Store.FaceChange], position: Int64) {
        try await snapshotRead { connection in
            var rows: [(change: Store.FaceChange, sealed: Data?, model: String?)] = []
            for try await (seq, faceID, personID, op, sealed, model, space, sealedModel) in try await connection.run("""
                SELECT c.seq, c.face_id, c.person_id, c.op, f.sealed_encoding, f.model_id, m.space, m.sealed_model FROM changes c
                LEFT JOIN faces f ON f.id = c.face_id AND c.op = 'upsert'
                LEFT JOIN index_models m ON c.op = 'model' AND m.company_id = c.company_id AND m.seq = c.seq
                WHERE c.company_id = \(companyID) AND c.seq > \(seq) AND (c.face_id IS NOT NULL OR c.op = 'model')
                ORDER BY c.seq LIMIT \(Int64(limit))
                """, logger: logger).decode((Int64, Int64?, Int64, String, Data?, String?, String?, Data?).self) {
                var change = Store.FaceChange(seq: seq, faceID: faceID ?? 0, personID: personID,
                                              operation: Store.FaceOperation(rawValue: op) ?? .delete)
                if change.operation == .model, let space, let sealedModel {
                    change.model = Store.PublishedModel(seq: seq, space: space, sealed: sealedModel)
                }
                rows.append((change, sealed, model))
            }
            return (try await withEmbeddings(rows, on: connection), try await feedHead(companyID: companyID, on: connection).lastSeq)
        }
    }

    func faceSnapshot(companyID: Int64, afterFaceID: Int64, limit: Int) async throws -> (faces: [Store.FaceChange], position: Int64) {
        try await snapshotRead { connection in
            var rows: [(change: Store.FaceChange, sealed: Data?, model: String?)] = []
            for try await (faceID, personID, sealed, model) in try await connection.run("""
                SELECT id, person_id, sealed_encoding, model_id FROM faces WHERE company_id = \(companyID) AND id > \(afterFaceID)
                ORDER BY id LIMIT \(Int64(limit))
                """, logger: logger).decode((Int64, Int64, Data, String).self) {
                rows.append((Store.FaceChange(seq: 0, faceID: faceID, personID: personID, operation: .upsert), sealed, model))
            }
            return (try await withEmbeddings(rows, on: connection), try await feedHead(companyID: companyID, on: connection).lastSeq)
        }
    }

    /// `body` in a read-only REPEATABLE READ transaction: every query sees the same committed state.
    private func snapshotRead<R: Sendable>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
        try await inTransaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    func companiesWithFaces() async throws -> [(Int64, Data)] {
        try await fetch("""
            SELECT id, wrapped_key FROM companies c
            WHERE EXISTS (SELECT 1 FROM changes WHERE company_id = c.id) OR EXISTS (SELECT 1 FROM faces WHERE company_id = c.id)
            ORDER BY id
            """, logger: logger).decode((Int64, Data).self).elements().map { ($0.0, $0.1) }
    }

    func employeeChanges(companyID: Int64, after seq: Int64, limit: Int) async throws
        -> (changes: [(seq: Int64, personID: Int64, employee: Store.Employee?)], head: Store.FeedHead) {
        try await snapshotRead { connection in
            let rows = try await connection.run("""
                SELECT person_id, max(seq) AS last FROM changes WHERE company_id = \(companyID) AND seq > \(seq) AND employee
                GROUP BY person_id ORDER BY last LIMIT \(Int64(limit))
                """, logger: logger).decode((Int64, Int64).self).elements()
            let active = try await Self.persons(try await connection.run("""
                SELECT \(unescaped: Self.personColumns) FROM persons WHERE company_id = \(companyID) AND id = ANY(\(rows.map(\.0)))
                AND deleted_at IS NULL AND timekeeper_id IS NOT NULL
                """, logger: logger))
            let employees = Dictionary(uniqueKeysWithValues: try await withFaces(active, on: connection).map { ($0.record.id!, $0) })
            return (rows.map { (seq: $0.1, personID: $0.0, employee: employees[$0.0]) }, try await feedHead(companyID: companyID, on: connection))
        }
    }

    /// One upsert for every company (unnest), so a report costs one round trip however many companies there are.
    func reportIndexPositions(node: String, _ positions: [Int64: Int64], at: Date) async throws {
        guard !positions.isEmpty else { return }
        let companies = Array(positions.keys), values = companies.map { positions[$0]! }
        _ = try await fetch("""
            INSERT INTO index_nodes AS n (node, company_id, position, reported_at)
            SELECT \(node), c, p, \(at) FROM unnest(\(companies)::BIGINT[], \(values)::BIGINT[]) AS u(c, p)
            WHERE EXISTS (SELECT 1 FROM companies WHERE id = c)
            ON CONFLICT (company_id, node) DO UPDATE SET position = excluded.position, reported_at = excluded.reported_at
            """, logger: logger)
    }

    func lowestIndexPosition(companyID: Int64, reportedSince since: Date) async throws -> Int64? {
        try await fetch("""
            SELECT min(position) FROM index_nodes WHERE company_id = \(companyID) AND reported_at >= \(since)
            """, logger: logger).decode(Int64?.self).elements().first ?? nil
    }

    func purgeFeed(companyID: Int64, olderThan horizon: Date, notPast limit: Int64) async throws -> Int64 {
        let micros = Int64(horizon.timeIntervalSince1970 * 1e6)
        return try await transaction { connection in
            let kept = try await connection.run("""
                SELECT seq FROM changes WHERE company_id = \(companyID) AND at_micros >= \(micros) ORDER BY seq LIMIT 1
                """, logger: logger).decode(Int64.self).elements().first
            let acknowledged = try await connection.run("""
                SELECT min(acked_seq) FROM devices WHERE company_id = \(companyID) AND acked_seq IS NOT NULL
                """, logger: logger).decode(Int64?.self).elements().first ?? nil
            let bound = min((kept ?? .max) - 1, limit, acknowledged ?? .max)
            let previous = try await feedHead(companyID: companyID, on: connection).purgedThrough
            guard let through = try await connection.run("""
                SELECT max(seq) FROM changes WHERE company_id = \(companyID) AND seq <= \(bound)
                """, logger: logger).decode(Int64?.self).elements().first ?? nil, through > previous else { return previous }
            _ = try await connection.run("DELETE FROM changes WHERE company_id = \(companyID) AND seq <= \(through)", logger: logger)
            _ = try await connection.run("""
                INSERT INTO sync_state AS s (company_id, purged_through_seq) VALUES (\(companyID), \(through))
                ON CONFLICT (company_id) DO UPDATE SET purged_through_seq = GREATEST(s.purged_through_seq, excluded.purged_through_seq)
                """, logger: logger)
            return through
        }
    }
}
