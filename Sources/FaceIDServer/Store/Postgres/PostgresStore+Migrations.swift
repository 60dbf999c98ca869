import Logging
import PostgresNIO

/// The schema on PostgreSQL: versioned steps, applied in order, each in its own transaction, recorded in
/// `schema_migrations`. Append-only, like the SQLite migrator; names say what each step means on both engines.
extension PostgresStore {
    static let migrations: [(name: String, sql: [String])] = [
        ("v1-tenancy-and-logs", [
            // The audit chain's sequence and head live in the company's row, which each append locks: one linear chain
            // whatever the number of writers.
            """
            CREATE TABLE companies (
                id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, wrapped_key BYTEA NOT NULL, settings TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL, audit_seq BIGINT NOT NULL DEFAULT 0, audit_head BYTEA
            )
            """,
            """
            CREATE TABLE users (
                id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                email TEXT NOT NULL, password_hash TEXT NOT NULL, full_name TEXT NOT NULL, role TEXT NOT NULL,
                disabled BOOLEAN NOT NULL DEFAULT FALSE, created_at TIMESTAMPTZ NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX users_email ON users (lower(email))",
            "CREATE INDEX users_company ON users (company_id)",
            """
            CREATE TABLE sessions (
                id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                user_id BIGINT NOT NULL REFERENCES users ON DELETE CASCADE, token_hash BYTEA NOT NULL UNIQUE,
                created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ
            )
            """,
            "CREATE INDEX sessions_user ON sessions (user_id)",
            """
            CREATE TABLE api_keys (
                id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                name TEXT NOT NULL, prefix TEXT NOT NULL, secret_hash BYTEA NOT NULL UNIQUE, scopes TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL, created_by TEXT NOT NULL, last_used_at TIMESTAMPTZ, revoked_at TIMESTAMPTZ
            )
            """,
            "CREATE INDEX api_keys_company ON api_keys (company_id)",
            """
            CREATE TABLE devices (
                id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                name TEXT NOT NULL, location TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL,
                acked_seq BIGINT, acked_at TIMESTAMPTZ
            )
            """,
            "CREATE INDEX devices_company ON devices (company_id)",
            // Forks of the chain are impossible by construction: one event per (company, sequence), one per previous hash.
            """
            CREATE TABLE audit_events (
                id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                audit_seq BIGINT NOT NULL, at_micros BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                target TEXT NOT NULL, remote_address TEXT NOT NULL, user_agent TEXT NOT NULL, detail TEXT NOT NULL,
                previous_hash BYTEA NOT NULL, hash BYTEA NOT NULL,
                UNIQUE (company_id, audit_seq), UNIQUE (company_id, previous_hash)
            )
            """,
            """
            CREATE TABLE access_log (
                id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                at_micros BIGINT NOT NULL, actor TEXT NOT NULL, device_id BIGINT, location TEXT NOT NULL,
                probe_sha256 TEXT NOT NULL, decision TEXT NOT NULL, person_id BIGINT, distance DOUBLE PRECISION,
                face_count INTEGER NOT NULL, latency_ms DOUBLE PRECISION NOT NULL
            )
            """,
            "CREATE INDEX access_log_company_at ON access_log (company_id, at_micros)",
            "CREATE INDEX access_log_company_id ON access_log (company_id, id)",
        ]),
    ]

    /// Applies the steps not yet recorded, in order. Several nodes starting at once take turns (an advisory lock).
    func migrate() async throws {
        try await client.withConnection { connection in
            _ = try await connection.query("SELECT pg_advisory_lock(7424212)", logger: logger)
            do {
                _ = try await connection.query(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                    logger: logger)
                var applied = Set<String>()
                for try await name in try await connection.query("SELECT name FROM schema_migrations", logger: logger).decode(String.self) {
                    applied.insert(name)
                }
                for (name, statements) in Self.migrations where !applied.contains(name) {
                    _ = try await connection.query("BEGIN", logger: logger)
                    do {
                        for statement in statements { _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                        _ = try await connection.query("INSERT INTO schema_migrations (name) VALUES (\(name))", logger: logger)
                        _ = try await connection.query("COMMIT", logger: logger)
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(7424212)", logger: logger)
                throw error
            }
            _ = try await connection.query("SELECT pg_advisory_unlock(7424212)", logger: logger)
        }
    }
}
