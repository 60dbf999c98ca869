import GRDB

extension Store {
    /// The versioned schema. Migrations are append-only: never edit one that has shipped.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-tenancy") { db in
            try db.create(table: "companies") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull()
                t.column("wrappedKey", .blob).notNull()
                t.column("settings", .text).notNull()
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "users") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("companyID", .integer).notNull().indexed().references("companies", onDelete: .cascade)
                t.column("email", .text).notNull().unique().collate(.nocase)
                t.column("passwordHash", .text).notNull()
                t.column("fullName", .text).notNull()
                t.column("role", .text).notNull()
                t.column("disabled", .boolean).notNull().defaults(to: false)
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "sessions") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("companyID", .integer).notNull().references("companies", onDelete: .cascade)
                t.column("userID", .integer).notNull().indexed().references("users", onDelete: .cascade)
                t.column("tokenHash", .blob).notNull().unique()
                t.column("createdAt", .datetime).notNull()
                t.column("expiresAt", .datetime).notNull()
                t.column("revokedAt", .datetime)
            }
            try db.create(table: "apiKeys") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("companyID", .integer).notNull().indexed().references("companies", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("prefix", .text).notNull()
                t.column("secretHash", .blob).notNull().unique()
                t.column("scopes", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("createdBy", .text).notNull()
                t.column("lastUsedAt", .datetime)
                t.column("revokedAt", .datetime)
            }
            try db.create(table: "devices") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("companyID", .integer).notNull().indexed().references("companies", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("location", .text).notNull()
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "auditEvents") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("companyID", .integer).notNull()
                t.column("atMicros", .integer).notNull()
                t.column("actor", .text).notNull()
                t.column("action", .text).notNull()
                t.column("target", .text).notNull()
                t.column("remoteAddress", .text).notNull()
                t.column("userAgent", .text).notNull()
                t.column("detail", .text).notNull()
                t.column("previousHash", .blob).notNull()
                t.column("hash", .blob).notNull()
            }
            try db.create(index: "auditEvents_company_time", on: "auditEvents", columns: ["companyID", "atMicros"])
            // Append-only: the application never updates or deletes an audit row — except a deleted company's whole chain
            // (`eraseCompany`, in its transaction). The hash chain still detects a change made by someone who drops these
            // triggers.
            try db.execute(sql: """
                CREATE TRIGGER auditEvents_no_update BEFORE UPDATE ON auditEvents
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER auditEvents_no_delete BEFORE DELETE ON auditEvents
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
        }
        migrator.registerMigration("v2-persons") { db in
            try db.create(table: "groups") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("companyID", .integer).notNull().references("companies", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("description", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.uniqueKey(["companyID", "name"])
            }
            try db.create(table: "persons") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("companyID", .integer).notNull().references("companies", onDelete: .cascade)
                t.column("externalID", .text)
                t.column("fullName", .text).notNull()
                t.column("tags", .text).notNull()
                t.column("metadata", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
                t.uniqueKey(["companyID", "externalID"])
            }
            try db.create(index: "persons_company_name", on: "persons", columns: ["companyID", "fullName"])
            try db.create(table: "personGroups") { t in
                t.column("personID", .integer).notNull().references("persons", onDelete: .cascade)
                t.column("groupID", .integer).notNull().indexed().references("groups", onDelete: .cascade)
                t.column("companyID", .integer).notNull()
                t.primaryKey(["personID", "groupID"])
            }
        }
        migrator.registerMigration("v3-faces") { db in
            try db.create(table: "faces") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("companyID", .integer).notNull().references("companies", onDelete: .cascade)
                t.column("personID", .integer).notNull().indexed().references("persons", onDelete: .cascade)
                t.column("sealedEncoding", .blob).notNull()
                t.column("modelID", .text).notNull()
                t.column("source", .text).notNull()
                t.column("reference", .boolean).notNull().defaults(to: false)
                t.column("createdAt", .datetime).notNull()
            }
            // The change feed: every face upsert and delete, in commit order (`seq` never reused).
            try db.create(table: "faceChanges") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("companyID", .integer).notNull()
                t.column("faceID", .integer).notNull()
                t.column("personID", .integer).notNull()
                t.column("op", .text).notNull()
                t.column("atMicros", .integer).notNull()
            }
            try db.create(index: "faceChanges_company_seq", on: "faceChanges", columns: ["companyID", "seq"])
        }
        migrator.registerMigration("v4-access-log") { db in
            // Every search: who asked, from where, what it decided. The probe photo is never kept, only its SHA-256.
            try db.create(table: "accessLog") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("companyID", .integer).notNull().references("companies", onDelete: .cascade)
                t.column("atMicros", .integer).notNull()
                t.column("actor", .text).notNull()
                t.column("deviceID", .integer)
                t.column("location", .text).notNull()
                t.column("probeSHA256", .text).notNull()
                t.column("decision", .text).notNull()
                t.column("personID", .integer)
                t.column("distance", .double)
                t.column("faceCount", .integer).notNull()
                t.column("latencyMs", .double).notNull()
            }
            try db.create(index: "accessLog_company_time", on: "accessLog", columns: ["companyID", "atMicros"])
        }
        migrator.registerMigration("v5-employees") { db in
            // Employees are persons: a timekeeper id, and a soft delete (resigned) that keeps the payroll record.
            try db.alter(table: "persons") { t in
                t.add(column: "timekeeperID", .text)
                t.add(column: "deletedAt", .datetime)
                // When the employee's face data was last deleted: an older registration cannot bring it back.
                t.add(column: "faceDeletedAt", .datetime)
            }
            try db.create(index: "persons_company_timekeeper", on: "persons", columns: ["companyID", "timekeeperID"],
                          unique: true, condition: Column("timekeeperID") != nil)
            // (companyID, rowid): a company's persons in id order — the pages of every list — without sorting them;
            // and its employees alone, so kiosk lists never walk a million other persons of the company.
            try db.create(index: "persons_company_id", on: "persons", columns: ["companyID"])
            try db.create(index: "persons_company_employees", on: "persons", columns: ["companyID"],
                          condition: Column("timekeeperID") != nil)
            // When a kiosk registered the face (its own clock, never after the upload); null = when it was stored.
            try db.alter(table: "faces") { t in t.add(column: "registeredAt", .datetime) }
            // The kiosk feed: one row per change of an employee (a person with a timekeeper id) or of their faces, written
            // by triggers in the same transaction as the change, whichever path made it. Kiosks read it coalesced per
            // employee. Persons who are not employees (visitors, a million imported faces) stay out of it.
            try db.create(table: "employeeChanges") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("companyID", .integer).notNull()
                t.column("personID", .integer).notNull()
                t.column("atMicros", .integer).notNull()
            }
            try db.create(index: "employeeChanges_company_seq", on: "employeeChanges", columns: ["companyID", "seq"])
            try db.create(index: "employeeChanges_person_seq", on: "employeeChanges", columns: ["personID", "seq"])
            let now = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
            let employeeFace = "(SELECT timekeeperID FROM persons WHERE id = %@.personID) IS NOT NULL"
            for (table, event, row, person, condition) in [
                ("persons", "INSERT", "NEW", "id", "NEW.timekeeperID IS NOT NULL"),
                ("persons", "UPDATE", "NEW", "id", "NEW.timekeeperID IS NOT NULL OR OLD.timekeeperID IS NOT NULL"),
                ("persons", "DELETE", "OLD", "id", "OLD.timekeeperID IS NOT NULL"),
                ("faces", "INSERT", "NEW", "personID", employeeFace.replacingOccurrences(of: "%@", with: "NEW")),
                ("faces", "DELETE", "OLD", "personID", employeeFace.replacingOccurrences(of: "%@", with: "OLD")),
            ] {
                try db.execute(sql: """
                    CREATE TRIGGER \(table)_\(event.lowercased())_employeeChange AFTER \(event) ON \(table) WHEN \(condition)
                    BEGIN INSERT INTO employeeChanges (companyID, personID, atMicros) VALUES (\(row).companyID, \(row).\(person), \(now)); END;
                    """)
            }
            // How far the feed has been purged (tombstones older than the retention): older cursors are expired.
            try db.create(table: "syncState") { t in
                t.primaryKey("companyID", .integer)
                t.column("purgedThroughSeq", .integer).notNull()
            }
            // What each kiosk applied.
            try db.alter(table: "devices") { t in
                t.add(column: "ackedSeq", .integer)
                t.add(column: "ackedAt", .datetime)
            }
        }
        migrator.registerMigration("v6-audit-head") { db in
            // When the audit heads outside the store were first recorded: a later start that finds the head folder
            // empty reports every chain's head missing instead of trusting the store again.
            try db.create(table: "auditHeadState") { t in
                t.primaryKey("id", .integer).check { $0 == 1 }
                t.column("establishedAt", .datetime).notNull()
            }
        }
        migrator.registerMigration("v7-embeddings") { db in
            // A face's embeddings besides the one on its row (`faces.sealedEncoding` under `faces.modelID`): a photo
            // enrollment computes every model's, a model switch adds the new model's from the stored photo. Sealed under
            // the record id `face:<id>/<model>`; gone with the face.
            try db.create(table: "faceEmbeddings") { t in
                t.column("faceID", .integer).notNull().references("faces", onDelete: .cascade)
                t.column("companyID", .integer).notNull()
                t.column("modelID", .text).notNull()
                t.column("sealedEmbedding", .blob).notNull()
                t.column("createdAt", .datetime).notNull()
                t.primaryKey(["faceID", "modelID"])
            }
            try db.create(index: "faceEmbeddings_company_model", on: "faceEmbeddings", columns: ["companyID", "modelID"])
            try db.create(index: "faces_company_model", on: "faces", columns: ["companyID", "modelID"])
        }
        migrator.registerMigration("v8-company-id-order") { db in
            // "The company's newest event": the audit chain's previous hash on every append, the audit and access-log pages.
            // (companyID) keeps rowid order within a company, so these seek instead of sorting every event the company has
            // — which made each append, and so a million-person import, cost in proportion to the chain's length.
            try db.create(index: "auditEvents_company_id", on: "auditEvents", columns: ["companyID"])
            try db.create(index: "accessLog_company_id", on: "accessLog", columns: ["companyID"])
            // A company's faces in id order (the re-embedding job's batches) without sorting them.
            try db.create(index: "faces_company_id", on: "faces", columns: ["companyID"])
        }
        migrator.registerMigration("v9-quarantine") { db in
            // Stored faces whose sealed encoding does not open (damage): kept for inspection, left out of every kiosk list
            // and of the index, counted in /readyz. Gone with the face.
            try db.create(table: "quarantinedFaces") { t in
                t.primaryKey("faceID", .integer).references("faces", onDelete: .cascade)
                t.column("companyID", .integer).notNull()
                t.column("reason", .text).notNull()
                t.column("at", .datetime).notNull()
            }
        }
        migrator.registerMigration("v10-one-feed") { db in
            try Self.migrateToOneFeed(db)
        }
        migrator.registerMigration("v11-feed-heads") { db in
            // Each company's last feed row, kept by a trigger: what the index's follower compares with its own position,
            // without scanning the feed (PostgreSQL keeps the same table as the per-company counter).
            try db.execute(sql: """
                CREATE TABLE feedHeads (companyID INTEGER PRIMARY KEY, lastSeq INTEGER NOT NULL);
                INSERT INTO feedHeads (companyID, lastSeq) SELECT companyID, MAX(seq) FROM changes GROUP BY companyID;
                CREATE TRIGGER feed_head AFTER INSERT ON changes BEGIN
                    INSERT INTO feedHeads (companyID, lastSeq) VALUES (NEW.companyID, NEW.seq)
                    ON CONFLICT (companyID) DO UPDATE SET lastSeq = MAX(lastSeq, excluded.lastSeq);
                END;
                """)
        }
        migrator.registerMigration("v12-idempotency-keys") { db in
            // A day of `Idempotency-Key`s: who claimed each (attempt), whether its write committed (applied, set in the
            // write's own transaction) and the answer to send again.
            try db.execute(sql: """
                CREATE TABLE idempotencyKeys (
                    companyID INTEGER NOT NULL REFERENCES companies ON DELETE CASCADE, key TEXT NOT NULL,
                    fingerprint BLOB NOT NULL, attempt TEXT NOT NULL, applied INTEGER NOT NULL DEFAULT 0,
                    claimedAt DOUBLE NOT NULL, status INTEGER, contentType TEXT, body BLOB,
                    PRIMARY KEY (companyID, key)
                );
                CREATE INDEX idempotencyKeys_claimed ON idempotencyKeys (claimedAt);
                """)
        }
        migrator.registerMigration("v13-index-models") { db in
            // The index models one node trains and publishes through the feed (a `model` row at `seq`), and who is training.
            try db.execute(sql: """
                CREATE TABLE indexModels (
                    companyID INTEGER NOT NULL REFERENCES companies ON DELETE CASCADE, space TEXT NOT NULL,
                    seq INTEGER NOT NULL, sealedModel BLOB NOT NULL, trainedBy TEXT NOT NULL, createdAt DOUBLE NOT NULL,
                    PRIMARY KEY (companyID, space)
                );
                CREATE TABLE indexModelClaims (
                    companyID INTEGER NOT NULL REFERENCES companies ON DELETE CASCADE, space TEXT NOT NULL,
                    node TEXT NOT NULL, expiresAt DOUBLE NOT NULL, PRIMARY KEY (companyID, space)
                );
                """)
        }
        migrator.registerMigration("v14-consents") { db in
            // A person's consent to the processing of their biometric data (GDPR Art. 9(2)(a), BIPA §15(b)): one record,
            // gone with the person.
            try db.execute(sql: """
                CREATE TABLE consents (
                    personID INTEGER PRIMARY KEY REFERENCES persons ON DELETE CASCADE,
                    companyID INTEGER NOT NULL REFERENCES companies ON DELETE CASCADE,
                    obtainedAt DATETIME NOT NULL, method TEXT NOT NULL, documentVersion TEXT NOT NULL,
                    recordedBy TEXT NOT NULL, recordedAt DATETIME NOT NULL
                );
                """)
        }
        migrator.registerMigration("v15-person-activity") { db in
            // When a person was last recognised (a search that matched them): with their faces' enrollment and kiosk
            // upload times, the last interaction the biometric retention schedule counts from. The access log cannot
            // say it: it is purged sooner (log_retention_days) than the schedule's three years.
            try db.execute(sql: """
                CREATE TABLE personActivity (
                    personID INTEGER PRIMARY KEY REFERENCES persons ON DELETE CASCADE,
                    companyID INTEGER NOT NULL REFERENCES companies ON DELETE CASCADE,
                    lastSeenAt DATETIME NOT NULL
                );
                """)
        }
        migrator.registerMigration("v16-deleted-companies") { db in
            // What stays of a deleted company: that it existed, when it was deleted and by whom. `id`, not `companyID`: the
            // deletion clears every table with a `companyID` column. `completedAt` NULL: begun, to be finished at the next
            // start if the process stopped on the way.
            try db.execute(sql: """
                CREATE TABLE deletedCompanies (
                    id INTEGER PRIMARY KEY, name TEXT NOT NULL, createdAt DATETIME NOT NULL, requestedAt DATETIME NOT NULL,
                    requestedBy TEXT NOT NULL, completedAt DATETIME
                );
                """)
        }
        return migrator
    }

    /// One change feed instead of two: `changes` holds every face upsert and delete (what the index follows) and every
    /// change of an employee's record (what kiosks follow, with the face rows of employees). SQLite appends it, in the
    /// transaction of the change, from triggers declared once here: no write path can forget it.
    ///
    /// The face feed's rows keep their sequence numbers, so the index's watermarks stay valid; the kiosk feed's rows follow
    /// them. Kiosk cursors name the new numbering (`SyncCursor` writes `e.`/`t.`): a kiosk's older cursor answers 410 once
    /// and it runs a full sync, and the devices' acknowledgements start over.
    static func migrateToOneFeed(_ db: Database) throws {
        try db.create(table: "changes") { t in
            t.autoIncrementedPrimaryKey("seq")
            t.column("companyID", .integer).notNull()
            t.column("personID", .integer).notNull()
            /// The face a face row is about; nil for a change of an employee's record.
            t.column("faceID", .integer)
            /// `upsert` or `delete` (a face), `person` (an employee's record).
            t.column("op", .text).notNull()
            /// Whether kiosks follow it: a change of an employee's record, or of an employee's face.
            t.column("employee", .boolean).notNull()
            t.column("atMicros", .integer).notNull()
        }
        try db.execute(sql: """
            INSERT INTO changes (seq, companyID, personID, faceID, op, employee, atMicros)
                SELECT c.seq, c.companyID, c.personID, c.faceID, c.op,
                       COALESCE((SELECT p.timekeeperID IS NOT NULL FROM persons p WHERE p.id = c.personID), 0), c.atMicros
                FROM faceChanges c ORDER BY c.seq;
            INSERT INTO changes (companyID, personID, faceID, op, employee, atMicros)
                SELECT companyID, personID, NULL, 'person', 1, atMicros FROM employeeChanges ORDER BY seq;
            DROP TRIGGER IF EXISTS persons_insert_employeeChange;
            DROP TRIGGER IF EXISTS persons_update_employeeChange;
            DROP TRIGGER IF EXISTS persons_delete_employeeChange;
            DROP TRIGGER IF EXISTS faces_insert_employeeChange;
            DROP TRIGGER IF EXISTS faces_delete_employeeChange;
            DROP TABLE faceChanges;
            DROP TABLE employeeChanges;
            UPDATE syncState SET purgedThroughSeq = 0;
            UPDATE devices SET ackedSeq = NULL, ackedAt = NULL;
            CREATE INDEX changes_company_seq ON changes (companyID, seq);
            CREATE INDEX changes_person_seq ON changes (personID, seq);
            CREATE INDEX changes_company_employee_seq ON changes (companyID, seq) WHERE employee;
            """)
        // The time of a change, in microseconds since 1970, as SQLite's clock gives it.
        let now = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
        let isEmployee = "COALESCE((SELECT timekeeperID IS NOT NULL FROM persons WHERE id = %@.personID), 0)"
        try db.execute(sql: """
            CREATE TRIGGER feed_face_insert AFTER INSERT ON faces BEGIN
                INSERT INTO changes (companyID, personID, faceID, op, employee, atMicros)
                VALUES (NEW.companyID, NEW.personID, NEW.id, 'upsert', \(isEmployee.replacingOccurrences(of: "%@", with: "NEW")), \(now));
            END;
            CREATE TRIGGER feed_face_delete AFTER DELETE ON faces BEGIN
                INSERT INTO changes (companyID, personID, faceID, op, employee, atMicros)
                VALUES (OLD.companyID, OLD.personID, OLD.id, 'delete', \(isEmployee.replacingOccurrences(of: "%@", with: "OLD")), \(now));
            END;
            CREATE TRIGGER feed_embedding_insert AFTER INSERT ON faceEmbeddings BEGIN
                INSERT INTO changes (companyID, personID, faceID, op, employee, atMicros)
                SELECT f.companyID, f.personID, f.id, 'upsert', 0, \(now) FROM faces f WHERE f.id = NEW.faceID;
            END;
            CREATE TRIGGER feed_person_insert AFTER INSERT ON persons WHEN NEW.timekeeperID IS NOT NULL BEGIN
                INSERT INTO changes (companyID, personID, faceID, op, employee, atMicros)
                VALUES (NEW.companyID, NEW.id, NULL, 'person', 1, \(now));
            END;
            CREATE TRIGGER feed_person_update AFTER UPDATE ON persons
            WHEN NEW.timekeeperID IS NOT NULL OR OLD.timekeeperID IS NOT NULL BEGIN
                INSERT INTO changes (companyID, personID, faceID, op, employee, atMicros)
                VALUES (NEW.companyID, NEW.id, NULL, 'person', 1, \(now));
            END;
            CREATE TRIGGER feed_person_delete AFTER DELETE ON persons WHEN OLD.timekeeperID IS NOT NULL BEGIN
                INSERT INTO changes (companyID, personID, faceID, op, employee, atMicros)
                VALUES (OLD.companyID, OLD.id, NULL, 'person', 1, \(now));
            END;
            """)
    }
}
