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
        ("v2-persons-faces-and-the-feed", [
            """
            CREATE TABLE groups (
                id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                name TEXT NOT NULL, description TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, UNIQUE (company_id, name)
            )
            """,
            """
            CREATE TABLE persons (
                id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                external_id TEXT, full_name TEXT NOT NULL, tags TEXT NOT NULL, metadata TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
                timekeeper_id TEXT, deleted_at TIMESTAMPTZ, face_deleted_at TIMESTAMPTZ,
                UNIQUE (company_id, external_id)
            )
            """,
            "CREATE UNIQUE INDEX persons_company_timekeeper ON persons (company_id, timekeeper_id) WHERE timekeeper_id IS NOT NULL",
            "CREATE INDEX persons_company_id ON persons (company_id, id)",
            """
            CREATE TABLE person_groups (
                person_id BIGINT NOT NULL REFERENCES persons ON DELETE CASCADE,
                group_id BIGINT NOT NULL REFERENCES groups ON DELETE CASCADE, company_id BIGINT NOT NULL,
                PRIMARY KEY (person_id, group_id)
            )
            """,
            "CREATE INDEX person_groups_group ON person_groups (group_id)",
            """
            CREATE TABLE faces (
                id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                person_id BIGINT NOT NULL REFERENCES persons ON DELETE CASCADE, sealed_encoding BYTEA NOT NULL,
                model_id TEXT NOT NULL, source TEXT NOT NULL, reference BOOLEAN NOT NULL DEFAULT FALSE,
                created_at TIMESTAMPTZ NOT NULL, registered_at TIMESTAMPTZ
            )
            """,
            "CREATE INDEX faces_company_id ON faces (company_id, id)",
            "CREATE INDEX faces_person ON faces (person_id)",
            """
            CREATE TABLE face_embeddings (
                face_id BIGINT NOT NULL REFERENCES faces ON DELETE CASCADE, company_id BIGINT NOT NULL, model_id TEXT NOT NULL,
                sealed_embedding BYTEA NOT NULL, created_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (face_id, model_id)
            )
            """,
            """
            CREATE TABLE quarantined_faces (
                face_id BIGINT PRIMARY KEY REFERENCES faces ON DELETE CASCADE, company_id BIGINT NOT NULL,
                reason TEXT NOT NULL, at TIMESTAMPTZ NOT NULL
            )
            """,
            // The one feed, numbered per company. A writer takes the next number from the company's counter row and keeps
            // that row locked until it commits, so each company's feed is gapless and in commit order: a follower reading
            // `seq > watermark` never skips a row that commits late (what a global sequence would allow).
            "CREATE TABLE feed_heads (company_id BIGINT PRIMARY KEY REFERENCES companies ON DELETE CASCADE, last_seq BIGINT NOT NULL)",
            """
            CREATE TABLE changes (
                company_id BIGINT NOT NULL, seq BIGINT NOT NULL, person_id BIGINT NOT NULL, face_id BIGINT, op TEXT NOT NULL,
                employee BOOLEAN NOT NULL, at_micros BIGINT NOT NULL, PRIMARY KEY (company_id, seq)
            )
            """,
            "CREATE INDEX changes_company_employee_seq ON changes (company_id, seq) WHERE employee",
            "CREATE INDEX changes_person_seq ON changes (person_id, seq)",
            "CREATE TABLE sync_state (company_id BIGINT PRIMARY KEY, purged_through_seq BIGINT NOT NULL)",
            """
            CREATE FUNCTION feed_append(company BIGINT, person BIGINT, face BIGINT, operation TEXT, is_employee BOOLEAN) RETURNS VOID
            LANGUAGE plpgsql AS $$
            DECLARE next BIGINT;
            BEGIN
                INSERT INTO feed_heads AS h (company_id, last_seq) VALUES (company, 1)
                    ON CONFLICT (company_id) DO UPDATE SET last_seq = h.last_seq + 1
                    RETURNING last_seq INTO next;
                INSERT INTO changes (company_id, seq, person_id, face_id, op, employee, at_micros)
                    VALUES (company, next, person, face, operation, is_employee,
                            (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT);
            END $$
            """,
            """
            CREATE FUNCTION feed_face() RETURNS TRIGGER LANGUAGE plpgsql AS $$
            DECLARE row faces;
            BEGIN
                IF TG_OP = 'DELETE' THEN row := OLD; ELSE row := NEW; END IF;
                PERFORM feed_append(row.company_id, row.person_id, row.id, CASE TG_OP WHEN 'DELETE' THEN 'delete' ELSE 'upsert' END,
                    COALESCE((SELECT timekeeper_id IS NOT NULL FROM persons WHERE id = row.person_id), FALSE));
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER feed_face AFTER INSERT OR DELETE ON faces FOR EACH ROW EXECUTE FUNCTION feed_face()",
            """
            CREATE FUNCTION feed_embedding() RETURNS TRIGGER LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM feed_append(f.company_id, f.person_id, f.id, 'upsert', FALSE) FROM faces f WHERE f.id = NEW.face_id;
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER feed_embedding AFTER INSERT ON face_embeddings FOR EACH ROW EXECUTE FUNCTION feed_embedding()",
            """
            CREATE FUNCTION feed_person() RETURNS TRIGGER LANGUAGE plpgsql AS $$
            DECLARE row persons;
            BEGIN
                IF TG_OP = 'DELETE' THEN row := OLD; ELSE row := NEW; END IF;
                IF (TG_OP <> 'DELETE' AND NEW.timekeeper_id IS NOT NULL) OR (TG_OP <> 'INSERT' AND OLD.timekeeper_id IS NOT NULL) THEN
                    PERFORM feed_append(row.company_id, row.id, NULL, 'person', TRUE);
                END IF;
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER feed_person AFTER INSERT OR UPDATE OR DELETE ON persons FOR EACH ROW EXECUTE FUNCTION feed_person()",
        ]),
        ("v3-feed-notify", [
            // A wake-up for followers, delivered when the appending transaction commits (only a hint: they also poll).
            """
            CREATE OR REPLACE FUNCTION feed_append(company BIGINT, person BIGINT, face BIGINT, operation TEXT, is_employee BOOLEAN)
            RETURNS VOID LANGUAGE plpgsql AS $$
            DECLARE next BIGINT;
            BEGIN
                INSERT INTO feed_heads AS h (company_id, last_seq) VALUES (company, 1)
                    ON CONFLICT (company_id) DO UPDATE SET last_seq = h.last_seq + 1
                    RETURNING last_seq INTO next;
                INSERT INTO changes (company_id, seq, person_id, face_id, op, employee, at_micros)
                    VALUES (company, next, person, face, operation, is_employee,
                            (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT);
                PERFORM pg_notify('faceid_feed', company::TEXT);
            END $$
            """,
        ]),
        ("v4-audit-head-state", [
            // When the audit heads outside the store were first recorded (as on SQLite: a later start that finds the head
            // folder empty reports every chain's head missing instead of trusting the store again).
            "CREATE TABLE audit_head_state (id INTEGER PRIMARY KEY CHECK (id = 1), established_at TIMESTAMPTZ NOT NULL)",
        ]),
        ("v5-index-nodes", [
            // Where each node's index stands per company, reported every few seconds: the feed's retention never drops a row a
            // node that reported recently has not applied.
            """
            CREATE TABLE index_nodes (
                node TEXT NOT NULL, company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                position BIGINT NOT NULL, reported_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (company_id, node)
            )
            """,
        ]),
        ("v6-rate-limits", [
            // One row per rate-limit key shared by every node: a token bucket (tokens, refilled since updated_micros) or a
            // sliding log (the accepted requests' times in the window).
            """
            CREATE TABLE rate_limits (
                key TEXT PRIMARY KEY, tokens DOUBLE PRECISION, updated_micros BIGINT NOT NULL, times BIGINT[] NOT NULL DEFAULT '{}'
            )
            """,
            "CREATE INDEX rate_limits_updated ON rate_limits (updated_micros)",
        ]),
        ("v7-idempotency-keys", [
            """
            CREATE TABLE idempotency_keys (
                company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE, key TEXT NOT NULL,
                fingerprint BYTEA NOT NULL, attempt TEXT NOT NULL, applied BOOLEAN NOT NULL DEFAULT FALSE,
                claimed_at DOUBLE PRECISION NOT NULL, status INTEGER, content_type TEXT, body BYTEA,
                PRIMARY KEY (company_id, key)
            )
            """,
            "CREATE INDEX idempotency_keys_claimed ON idempotency_keys (claimed_at)",
        ]),
        ("v8-audit-heads-per-node", [
            // Each node keeps the audit heads of what it appended in its own folder: when each node's folder was first
            // filled (v4's single row is no longer read). A node that finds its folder empty after that reports missing heads.
            "CREATE TABLE audit_head_nodes (node TEXT PRIMARY KEY, established_at TIMESTAMPTZ NOT NULL)",
        ]),
        ("v9-face-photos", [
            // Enrollment photos (`store_images`), sealed with the company key: in the store, so every node reads them and
            // a face's delete takes its photo in the same transaction.
            """
            CREATE TABLE face_photos (
                face_id BIGINT PRIMARY KEY REFERENCES faces ON DELETE CASCADE,
                company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE, sealed BYTEA NOT NULL
            )
            """,
            "CREATE INDEX face_photos_company ON face_photos (company_id)",
        ]),
        ("v10-index-models", [
            // The index models one node trains and publishes through the feed (a `model` row at `seq`), and who is training.
            """
            CREATE TABLE index_models (
                company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE, space TEXT NOT NULL, seq BIGINT NOT NULL,
                sealed_model BYTEA NOT NULL, trained_by TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (company_id, space)
            )
            """,
            """
            CREATE TABLE index_model_claims (
                company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE, space TEXT NOT NULL, node TEXT NOT NULL,
                expires_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (company_id, space)
            )
            """,
        ]),
        ("v11-consents", [
            """
            CREATE TABLE consents (
                person_id BIGINT PRIMARY KEY REFERENCES persons ON DELETE CASCADE,
                company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                obtained_at TIMESTAMPTZ NOT NULL, method TEXT NOT NULL, document_version TEXT NOT NULL,
                recorded_by TEXT NOT NULL, recorded_at TIMESTAMPTZ NOT NULL
            )
            """,
        ]),
        ("v12-person-activity", [
            """
            CREATE TABLE person_activity (
                person_id BIGINT PRIMARY KEY REFERENCES persons ON DELETE CASCADE,
                company_id BIGINT NOT NULL REFERENCES companies ON DELETE CASCADE,
                last_seen_at TIMESTAMPTZ NOT NULL
            )
            """,
        ]),
        // The key vault's secrets, in a schema the routine dump excludes (`PostgresKeyVault`); and what stays of a deleted
        // company (`id`, not `company_id`: the deletion clears every table with a `company_id`).
        ("v13-key-vault-and-deleted-companies", [
            "CREATE SCHEMA IF NOT EXISTS faceid_keys",
            """
            CREATE TABLE faceid_keys.company_secrets (key_id BYTEA PRIMARY KEY, secret BYTEA NOT NULL, created_at TIMESTAMPTZ NOT NULL)
            """,
            """
            CREATE TABLE deleted_companies (
                id BIGINT PRIMARY KEY, name TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, requested_at TIMESTAMPTZ NOT NULL,
                requested_by TEXT NOT NULL, completed_at TIMESTAMPTZ
            )
            """,
        ]),
    ]

    /// Applies the steps not yet recorded, in order. Several nodes starting at once take turns (an advisory lock).
    func migrate() async throws {
        try await client.withConnection { connection in
            _ = try await connection.run("SELECT pg_advisory_lock(7424212)", logger: logger)
            do {
                _ = try await connection.run(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                    logger: logger)
                var applied = Set<String>()
                for try await name in try await connection.run("SELECT name FROM schema_migrations", logger: logger).decode(String.self) {
                    applied.insert(name)
                }
                for (name, statements) in Self.migrations where !applied.contains(name) {
                    _ = try await connection.run("BEGIN", logger: logger)
                    do {
                        for statement in statements { _ = try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger) }
                        _ = try await connection.run("INSERT INTO schema_migrations (name) VALUES (\(name))", logger: logger)
                        _ = try await connection.run("COMMIT", logger: logger)
                    } catch {
                        if !Self.connectionLost(error) { _ = try? await connection.run("ROLLBACK", logger: logger) }
                        throw error
                    }
                }
            } catch {
                if !Self.connectionLost(error) { _ = try? await connection.run("SELECT pg_advisory_unlock(7424212)", logger: logger) }
                throw error
            }
            _ = try await connection.run("SELECT pg_advisory_unlock(7424212)", logger: logger)
        }
    }
}
