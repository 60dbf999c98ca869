import Foundation
import PostgresNIO

/// The vault on PostgreSQL: every node must open every company's key, so the secrets live in the shared database, in a schema
/// of their own (`faceid_keys`) that the routine dump leaves out and a separate dump keeps for a shorter time (README,
/// "Privacy"). A destroyed secret's row is vacuumed at once, so it does not wait in a dead tuple for autovacuum.
struct PostgresKeyVault: KeyVault {
    let store: PostgresStore

    func secrets() async throws -> [Data: Data] {
        var found: [Data: Data] = [:]
        for try await (keyID, secret) in try await store.fetch("SELECT key_id, secret FROM faceid_keys.company_secrets", logger: store.logger)
            .decode((Data, Data).self) {
            found[keyID] = secret
        }
        return found
    }

    func secret(keyID: Data) async throws -> Data? {
        try await store.fetch("SELECT secret FROM faceid_keys.company_secrets WHERE key_id = \(keyID)", logger: store.logger)
            .decode(Data.self).elements().first
    }

    func insert(keyID: Data, secret: Data, at: Date) async throws {
        _ = try await store.fetch("""
            INSERT INTO faceid_keys.company_secrets (key_id, secret, created_at) VALUES (\(keyID), \(secret), \(at))
            """, logger: store.logger)
    }

    func destroy(keyID: Data) async throws {
        _ = try await store.fetch("DELETE FROM faceid_keys.company_secrets WHERE key_id = \(keyID)", logger: store.logger)
        _ = try await store.fetch("VACUUM faceid_keys.company_secrets", logger: store.logger)
    }
}
