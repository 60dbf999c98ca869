import Foundation
import PostgresNIO

/// A company's deletion on PostgreSQL (`Store+CompanyDeletion.swift` says what each step is).
extension PostgresStore {
    func beginCompanyDeletion(companyID: Int64, requestedBy: String, at: Date) async throws -> DeletedCompanyRecord {
        try await transaction(lockingCompany: companyID) { connection in
            if let begun = try await deletedCompanies(on: connection, id: companyID).first { return begun }
            guard let (name, created) = try await connection.run("SELECT name, created_at FROM companies WHERE id = \(companyID)",
                                                                 logger: logger).decode((String, Date).self).elements().first else {
                throw StoreError.notFound(.company)
            }
            _ = try await connection.run("""
                INSERT INTO deleted_companies (id, name, created_at, requested_at, requested_by)
                VALUES (\(companyID), \(name), \(created), \(at), \(requestedBy))
                """, logger: logger)
            return DeletedCompanyRecord(id: companyID, name: name, createdAt: created, requestedAt: at, requestedBy: requestedBy,
                                        completedAt: nil)
        }
    }

    func eraseCompany(companyID: Int64, at: Date) async throws -> [String: Int] {
        try await transaction(lockingCompany: companyID) { connection in
            var removed: [String: Int] = [:]
            let tables = try await companyTables(on: connection)
            for table in tables {
                removed[table] = Int(try await connection.run(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table) WHERE company_id = \(companyID)"),
                                                              logger: logger).decode(Int64.self).elements().first ?? 0)
            }
            for table in Store.erasureOrder(tables) {
                _ = try await connection.run(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE company_id = \(companyID)"), logger: logger)
            }
            removed["companies"] = try await connection.run("DELETE FROM companies WHERE id = \(companyID) RETURNING id", logger: logger)
                .decode(Int64.self).elements().count
            _ = try await connection.run("UPDATE deleted_companies SET completed_at = \(at) WHERE id = \(companyID)", logger: logger)
            return removed.filter { $0.value > 0 }
        }
    }

    /// The tables of the store's schema with a `company_id` column.
    private func companyTables(on connection: PostgresConnection) async throws -> [String] {
        try await connection.run("""
            SELECT table_name::text FROM information_schema.columns
            WHERE table_schema = current_schema() AND column_name = 'company_id' ORDER BY table_name
            """, logger: logger).decode(String.self).elements()
    }

    func companyRowCounts(companyID: Int64) async throws -> [String: Int] {
        try await client.withConnection { connection in
            var counts: [String: Int] = [:]
            for table in try await companyTables(on: connection) + ["companies"] {
                let column = table == "companies" ? "id" : "company_id"
                counts[table] = Int(try await connection.run(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table) WHERE \(column) = \(companyID)"),
                                                             logger: logger).decode(Int64.self).elements().first ?? 0)
            }
            return counts
        }
    }

    func deletedCompanies() async throws -> [DeletedCompanyRecord] {
        try await client.withConnection { connection in try await deletedCompanies(on: connection, id: nil) }
    }

    private func deletedCompanies(on connection: PostgresConnection, id: Int64?) async throws -> [DeletedCompanyRecord] {
        var found: [DeletedCompanyRecord] = []
        for try await (id, name, created, requested, by, completed) in try await connection.run("""
            SELECT id, name, created_at, requested_at, requested_by, completed_at FROM deleted_companies
            WHERE \(id)::BIGINT IS NULL OR id = \(id)::BIGINT ORDER BY id
            """, logger: logger).decode((Int64, String, Date, Date, String, Date?).self) {
            found.append(DeletedCompanyRecord(id: id, name: name, createdAt: created, requestedAt: requested, requestedBy: by,
                                              completedAt: completed))
        }
        return found
    }

    func replaceWrappedKey(companyID: Int64, old: Data, new: Data) async throws -> Bool {
        !(try await fetch("UPDATE companies SET wrapped_key = \(new) WHERE id = \(companyID) AND wrapped_key = \(old) RETURNING id",
                          logger: logger).decode(Int64.self).elements().isEmpty)
    }

    func keyVault(dataDirectory: String) throws -> any KeyVault { PostgresKeyVault(store: self) }
}
