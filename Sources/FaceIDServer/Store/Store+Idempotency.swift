import Foundation
import GRDB

/// `Idempotency-Key`s on SQLite (`IdempotencyRepository`); the rules are `Idempotency`'s.
extension Store {
    func claimIdempotencyKey(companyID: Int64, key: String, fingerprint: Data, now: Date) async throws -> Idempotency.Claim {
        let attempt = UUID().uuidString
        return try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT fingerprint, applied, claimedAt, status, contentType, body FROM idempotencyKeys WHERE companyID = ? AND key = ?
                """, arguments: [companyID, key]) else {
                try db.execute(sql: """
                    INSERT INTO idempotencyKeys (companyID, key, fingerprint, attempt, claimedAt) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [companyID, key, fingerprint, attempt, now.timeIntervalSince1970])
                return .claimed(attempt: attempt)
            }
            let claim = Self.claim(fingerprint: row["fingerprint"], applied: row["applied"], claimedAt: row["claimedAt"], status: row["status"],
                                   contentType: row["contentType"], body: row["body"], requested: fingerprint, now: now, attempt: attempt)
            if claim == .claimed(attempt: attempt) {
                try db.execute(sql: "UPDATE idempotencyKeys SET attempt = ?, claimedAt = ? WHERE companyID = ? AND key = ?",
                               arguments: [attempt, now.timeIntervalSince1970, companyID, key])
            }
            return claim
        }
    }

    /// What an existing key's row means to a new request with it (both engines).
    static func claim(fingerprint stored: Data, applied: Bool, claimedAt: Double, status: Int?, contentType: String?, body: Data?,
                      requested: Data, now: Date, attempt: String) -> Idempotency.Claim {
        if stored != requested { return .mismatch }
        if let status { return .replay(status: status, contentType: contentType, body: body ?? Data()) }
        if applied { return .appliedWithoutAnswer }
        if claimedAt > now.timeIntervalSince1970 - Idempotency.staleAfter { return .inProgress }
        return .claimed(attempt: attempt)  // its request died before applying: this one takes over
    }

    /// Inside a write's transaction: marks the request's key applied, or rolls the write back when another attempt took the key
    /// over (this request had been counted as dead).
    static func markApplied(_ mark: Idempotency.Mark?, companyID: Int64, db: Database) throws {
        guard let mark, mark.companyID == companyID else { return }
        try db.execute(sql: "UPDATE idempotencyKeys SET applied = 1 WHERE companyID = ? AND key = ? AND attempt = ?",
                       arguments: [companyID, mark.key, mark.attempt])
        if db.changesCount == 0 { throw StoreError.idempotencyTakenOver }
    }

    func finishIdempotencyKey(_ mark: Idempotency.Mark, status: Int, contentType: String?, body: Data) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE idempotencyKeys SET status = ?, contentType = ?, body = ? WHERE companyID = ? AND key = ? AND attempt = ?
                """, arguments: [status, contentType, body, mark.companyID, mark.key, mark.attempt])
        }
    }

    func releaseIdempotencyKey(_ mark: Idempotency.Mark) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM idempotencyKeys WHERE companyID = ? AND key = ? AND attempt = ? AND applied = 0",
                           arguments: [mark.companyID, mark.key, mark.attempt])
        }
    }

    func purgeIdempotencyKeys(claimedBefore date: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM idempotencyKeys WHERE claimedAt < ?", arguments: [date.timeIntervalSince1970])
        }
    }
}
