import Foundation
import GRDB

/// A company's deletion (`CompanyDeletion` runs it): recorded as begun, every row of the company removed in one
/// transaction, recorded as done. And the key wrapping's upgrade, which the key ring runs at start.
extension Store {
    /// Records the deletion as begun (idempotent: a second call answers the first record).
    func beginCompanyDeletion(companyID: Int64, requestedBy: String, at: Date) async throws -> DeletedCompanyRecord {
        try await pool.write { db in
            if let begun = try DeletedCompanyRecord.fetchOne(db, key: companyID) { return begun }
            guard let company = try CompanyRecord.fetchOne(db, key: companyID) else { throw StoreError.notFound(.company) }
            let record = DeletedCompanyRecord(id: companyID, name: company.name, createdAt: company.createdAt, requestedAt: at,
                                              requestedBy: requestedBy, completedAt: nil)
            try record.insert(db)
            return record
        }
    }

    /// Removes every row of the company, in one transaction: its faces and persons first (their triggers append to the
    /// feed), then every table with a `companyID` column (the feed and its heads, the audit log and what has no foreign
    /// key among them; every foreign key cascades), then the company row. Marks the deletion done. Answers the rows
    /// removed per table, as they were before.
    func eraseCompany(companyID: Int64, at: Date) async throws -> [String: Int] {
        try await pool.write { db in
            var removed: [String: Int] = [:]
            let tables = try Self.companyTables(db)
            for table in tables {
                removed[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE companyID = ?", arguments: [companyID])
            }
            // The audit log's one sanctioned deletion: the whole chain of a deleted company (it names its people). The guard
            // is lifted and put back inside this transaction, so no other statement ever runs without it.
            try db.execute(sql: "DROP TRIGGER auditEvents_no_delete")
            for table in Self.erasureOrder(tables) {
                try db.execute(sql: "DELETE FROM \(table) WHERE companyID = ?", arguments: [companyID])
            }
            try db.execute(sql: """
                CREATE TRIGGER auditEvents_no_delete BEFORE DELETE ON auditEvents
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
            try db.execute(sql: "DELETE FROM companies WHERE id = ?", arguments: [companyID])
            removed["companies"] = db.changesCount
            try db.execute(sql: "UPDATE deletedCompanies SET completedAt = ? WHERE id = ?", arguments: [at, companyID])
            return removed.filter { $0.value > 0 }
        }
    }

    /// Faces and persons before the rest: deleting them appends the feed's tombstones, which the later tables' deletion
    /// (the feed's) then takes.
    static func erasureOrder(_ tables: [String]) -> [String] {
        let first = ["faces", "persons"].filter(tables.contains)
        return first + tables.filter { !first.contains($0) }
    }

    /// The tables with a `companyID` column.
    static func companyTables(_ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c
            WHERE m.type = 'table' AND c.name = 'companyID' ORDER BY m.name
            """)
    }

    /// How many rows the company still has in each table (tests: zero after its deletion).
    func companyRowCounts(companyID: Int64) async throws -> [String: Int] {
        try await pool.read { db in
            var counts: [String: Int] = ["companies": try CompanyRecord.filter(key: companyID).fetchCount(db)]
            for table in try Self.companyTables(db) {
                counts[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE companyID = ?", arguments: [companyID])
            }
            return counts
        }
    }

    func deletedCompanies() async throws -> [DeletedCompanyRecord] {
        try await pool.read { db in try DeletedCompanyRecord.order(Column("id")).fetchAll(db) }
    }

    /// Replaces a company's wrapped key if it is still `old` (compare-and-set); false when it was not.
    func replaceWrappedKey(companyID: Int64, old: Data, new: Data) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE companies SET wrappedKey = ? WHERE id = ? AND wrappedKey = ?", arguments: [new, companyID, old])
            return db.changesCount == 1
        }
    }

    func keyVault(dataDirectory: String) throws -> any KeyVault {
        try SQLiteKeyVault(path: dataDirectory + "/" + SQLiteKeyVault.fileName)
    }
}
