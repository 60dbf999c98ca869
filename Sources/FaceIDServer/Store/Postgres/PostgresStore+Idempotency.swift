import Foundation
import PostgresNIO

/// `Idempotency-Key`s on PostgreSQL (`IdempotencyRepository`): the claim is one transaction holding the key's row, so two
/// nodes given the same retry at once see one claim and one `inProgress`.
extension PostgresStore: IdempotencyRepository {
    func claimIdempotencyKey(companyID: Int64, key: String, fingerprint: Data, now: Date) async throws -> Idempotency.Claim {
        let attempt = UUID().uuidString
        let claimedAt = now.timeIntervalSince1970
        return try await transaction { connection in
            let inserted = try await connection.run("""
                INSERT INTO idempotency_keys (company_id, key, fingerprint, attempt, claimed_at)
                VALUES (\(companyID), \(key), \(fingerprint), \(attempt), \(claimedAt)) ON CONFLICT DO NOTHING RETURNING 1
                """, logger: logger).decode(Int32.self).elements()
            if !inserted.isEmpty { return .claimed(attempt: attempt) }
            guard let row = try await connection.run("""
                SELECT fingerprint, applied, claimed_at, status, content_type, body FROM idempotency_keys
                WHERE company_id = \(companyID) AND key = \(key) FOR UPDATE
                """, logger: logger).decode((Data, Bool, Double, Int32?, String?, Data?).self).elements().first else {
                throw StoreError.idempotencyTakenOver  // purged between the two statements: the retry tries again
            }
            let claim = Store.claim(fingerprint: row.0, applied: row.1, claimedAt: row.2, status: row.3.map(Int.init), contentType: row.4,
                                    body: row.5, requested: fingerprint, now: now, attempt: attempt)
            if claim == .claimed(attempt: attempt) {
                _ = try await connection.run("""
                    UPDATE idempotency_keys SET attempt = \(attempt), claimed_at = \(claimedAt) WHERE company_id = \(companyID) AND key = \(key)
                    """, logger: logger)
            }
            return claim
        }
    }

    /// Inside a write's transaction: marks the request's key applied, or rolls the write back when another attempt took it over.
    func markApplied(_ mark: Idempotency.Mark?, companyID: Int64, on connection: PostgresConnection) async throws {
        guard let mark, mark.companyID == companyID else { return }
        let marked = try await connection.run("""
            UPDATE idempotency_keys SET applied = TRUE WHERE company_id = \(companyID) AND key = \(mark.key) AND attempt = \(mark.attempt)
            RETURNING 1
            """, logger: logger).decode(Int32.self).elements()
        if marked.isEmpty { throw StoreError.idempotencyTakenOver }
    }

    func finishIdempotencyKey(_ mark: Idempotency.Mark, status: Int, contentType: String?, body: Data) async throws {
        _ = try await fetch("""
            UPDATE idempotency_keys SET status = \(Int32(status)), content_type = \(contentType), body = \(body)
            WHERE company_id = \(mark.companyID) AND key = \(mark.key) AND attempt = \(mark.attempt)
            """, logger: logger)
    }

    func releaseIdempotencyKey(_ mark: Idempotency.Mark) async throws {
        _ = try await fetch("""
            DELETE FROM idempotency_keys WHERE company_id = \(mark.companyID) AND key = \(mark.key) AND attempt = \(mark.attempt) AND NOT applied
            """, logger: logger)
    }

    func purgeIdempotencyKeys(claimedBefore date: Date) async throws {
        _ = try await fetch("DELETE FROM idempotency_keys WHERE claimed_at < \(date.timeIntervalSince1970)", logger: logger)
    }
}
