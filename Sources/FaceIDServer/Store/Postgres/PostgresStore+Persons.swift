import Foundation
import Logging
import PostgresNIO

/// Persons and groups on PostgreSQL (the first half of `PersonRepository`; faces are in `PostgresStore+Faces.swift`).
extension PostgresStore {
    static let personColumns = """
        id, company_id, external_id, full_name, tags, metadata, created_at, updated_at, timekeeper_id, deleted_at, face_deleted_at
        """

    static func persons(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> [PersonRecord] {
        var found: [PersonRecord] = []
        for try await (id, company, external, name, tags, metadata, created, updated, timekeeper, deleted, faceDeleted)
            in rows.decode((Int64, Int64, String?, String, String, String, Date, Date, String?, Date?, Date?).self) {
            found.append(PersonRecord(id: id, companyID: company, externalID: external, fullName: name, tags: tags, metadata: metadata,
                                      createdAt: created, updatedAt: updated, timekeeperID: timekeeper, deletedAt: deleted,
                                      faceDeletedAt: faceDeleted))
        }
        return found
    }

    /// A person of the company who is not deleted (a resigned employee is invisible to the persons API).
    func personRecord(id: Int64, companyID: Int64, on connection: PostgresConnection) async throws -> PersonRecord? {
        try await Self.persons(try await connection.run("""
            SELECT \(unescaped: Self.personColumns) FROM persons WHERE id = \(id) AND company_id = \(companyID) AND deleted_at IS NULL
            """, logger: logger)).first
    }

    /// Each person with the names of their groups (by name).
    func attachGroups(_ records: [PersonRecord], on connection: PostgresConnection) async throws -> [Store.Person] {
        guard !records.isEmpty else { return [] }
        var names: [Int64: [String]] = [:]
        for try await (person, name) in try await connection.run("""
            SELECT pg.person_id, g.name FROM person_groups pg JOIN groups g ON g.id = pg.group_id
            WHERE pg.person_id = ANY(\(records.map { $0.id! })) ORDER BY g.name
            """, logger: logger).decode((Int64, String).self) {
            names[person, default: []].append(name)
        }
        return records.map { Store.Person(record: $0, groups: names[$0.id!] ?? []) }
    }

    /// 409 `external_id_taken` when another person of the company has `externalID`.
    func requireFreeExternalID(_ externalID: String?, companyID: Int64, except: Int64?, on connection: PostgresConnection) async throws {
        guard let externalID else { return }
        if let other = try await connection.run(
            "SELECT id FROM persons WHERE company_id = \(companyID) AND external_id = \(externalID)", logger: logger
        ).decode(Int64.self).elements().first, other != except {
            throw StoreError.externalIDTaken(personID: other)
        }
    }

    /// Inserts a person with their groups and the audit event, inside the caller's transaction.
    func insertPerson(_ person: PersonRecord, groups: [String], actor: String, origin: RequestOrigin,
                      on connection: PostgresConnection) async throws -> Store.Person {
        try await requireFreeExternalID(person.externalID, companyID: person.companyID, except: nil, on: connection)
        let groupIDs = try await groupIDs(groups, companyID: person.companyID, on: connection)
        var person = person
        person.id = try await connection.run("""
            INSERT INTO persons (company_id, external_id, full_name, tags, metadata, created_at, updated_at, timekeeper_id)
            VALUES (\(person.companyID), \(person.externalID), \(person.fullName), \(person.tags), \(person.metadata), \(person.createdAt),
                    \(person.updatedAt), \(person.timekeeperID)) RETURNING id
            """, logger: logger).decode(Int64.self).elements()[0]
        try await setGroups(groupIDs, person: person, on: connection)
        try await appendAudit(AuditEvent(action: "person.create", actor: actor, target: "person:\(person.id!)",
                                         detail: person.externalID.map { ["external_id": $0] } ?? [:], origin: origin),
                              companyID: person.companyID, on: connection, now: Date())
        return Store.Person(record: person, groups: groups.uniqued())
    }

    /// The ids of the named groups of the company; an unknown name is `unknownGroup`.
    private func groupIDs(_ names: [String], companyID: Int64, on connection: PostgresConnection) async throws -> [Int64] {
        var ids: [Int64] = []
        for name in names.uniqued() {
            guard let id = try await connection.run("SELECT id FROM groups WHERE company_id = \(companyID) AND name = \(name)",
                                                      logger: logger).decode(Int64.self).elements().first else {
                throw StoreError.unknownGroup(name)
            }
            ids.append(id)
        }
        return ids
    }

    private func setGroups(_ groupIDs: [Int64], person: PersonRecord, on connection: PostgresConnection) async throws {
        for groupID in groupIDs {
            _ = try await connection.run("""
                INSERT INTO person_groups (person_id, group_id, company_id) VALUES (\(person.id!), \(groupID), \(person.companyID))
                """, logger: logger)
        }
    }

    // MARK: Groups

    func createGroup(_ group: GroupRecord, actor: String, origin: RequestOrigin) async throws -> GroupRecord {
        do {
            return try await transaction(lockingCompany: group.companyID) { connection in
                var group = group
                group.id = try await connection.run("""
                    INSERT INTO groups (company_id, name, description, created_at)
                    VALUES (\(group.companyID), \(group.name), \(group.description), \(group.createdAt)) RETURNING id
                    """, logger: logger).decode(Int64.self).elements()[0]
                try await appendAudit(AuditEvent(action: "group.create", actor: actor, target: "group:\(group.id!)",
                                                 detail: ["name": group.name], origin: origin),
                                      companyID: group.companyID, on: connection, now: Date())
                return group
            }
        } catch PostgresError.Code.uniqueViolation {
            throw StoreError.groupExists
        }
    }

    func groups(companyID: Int64) async throws -> [(GroupRecord, Int)] {
        var found: [(GroupRecord, Int)] = []
        for try await (id, name, description, created, members) in try await fetch("""
            SELECT g.id, g.name, g.description, g.created_at, (SELECT count(*) FROM person_groups pg WHERE pg.group_id = g.id)
            FROM groups g WHERE g.company_id = \(companyID) ORDER BY g.name
            """, logger: logger).decode((Int64, String, String, Date, Int64).self) {
            found.append((GroupRecord(id: id, companyID: companyID, name: name, description: description, createdAt: created), Int(members)))
        }
        return found
    }

    func deleteGroup(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await transaction(lockingCompany: companyID) { connection in
            guard let name = try await connection.run(
                "DELETE FROM groups WHERE id = \(id) AND company_id = \(companyID) RETURNING name", logger: logger
            ).decode(String.self).elements().first else { throw StoreError.notFound(.group) }
            try await appendAudit(AuditEvent(action: "group.delete", actor: actor, target: "group:\(id)", detail: ["name": name],
                                             origin: origin),
                                  companyID: companyID, on: connection, now: Date())
        }
    }

    // MARK: Persons

    func createPerson(_ person: PersonRecord, groups: [String], actor: String, origin: RequestOrigin) async throws -> Store.Person {
        try await transaction(lockingCompany: person.companyID) { connection in try await insertPerson(person, groups: groups, actor: actor, origin: origin, on: connection) }
    }

    func person(id: Int64, companyID: Int64) async throws -> Store.Person? {
        try await client.withConnection { connection in
            guard let record = try await personRecord(id: id, companyID: companyID, on: connection) else { return nil }
            return try await attachGroups([record], on: connection).first
        }
    }

    func persons(companyID: Int64, filter: Store.PersonFilter) async throws -> [Store.Person] {
        var query = Statement("SELECT \(Self.personColumns) FROM persons")
        query.append(" WHERE company_id = ? AND deleted_at IS NULL", companyID)
        if let afterID = filter.afterID { query.append(" AND id > ?", afterID) }
        if let externalID = filter.externalID { query.append(" AND external_id = ?", externalID) }
        if let name = filter.name {
            let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_")
            query.append(" AND full_name ILIKE ?", "%" + escaped + "%")
        }
        if let tag = filter.tag { query.append(" AND tags::jsonb @> jsonb_build_array(?::text)", tag) }
        if let group = filter.group {
            query.append(" AND id IN (SELECT pg.person_id FROM person_groups pg JOIN groups g ON g.id = pg.group_id WHERE g.company_id = ? AND g.name = ?)",
                         companyID, group)
        }
        query.append(" ORDER BY id LIMIT ?", Int64(filter.limit))
        return try await client.withConnection { connection in
            try await attachGroups(try await Self.persons(try await connection.run(query.query, logger: logger)), on: connection)
        }
    }

    func updatePerson(id: Int64, companyID: Int64, change: Store.PersonChange, actor: String, origin: RequestOrigin) async throws -> Store.Person {
        try await transaction(lockingCompany: companyID) { connection in
            guard var person = try await personRecord(id: id, companyID: companyID, on: connection) else { throw StoreError.notFound(.person) }
            var changed: [String] = []
            if let externalID = change.externalID, externalID != person.externalID {
                try await requireFreeExternalID(externalID, companyID: companyID, except: id, on: connection)
                person.externalID = externalID
                changed.append("external_id")
            }
            changed += person.apply(change)
            if let groups = change.groups {
                let ids = try await groupIDs(groups, companyID: companyID, on: connection)
                _ = try await connection.run("DELETE FROM person_groups WHERE person_id = \(id)", logger: logger)
                try await setGroups(ids, person: person, on: connection)
                changed.append("groups")
            }
            person.updatedAt = Date()
            _ = try await connection.run("""
                UPDATE persons SET external_id = \(person.externalID), full_name = \(person.fullName), tags = \(person.tags),
                       metadata = \(person.metadata), updated_at = \(person.updatedAt) WHERE id = \(id)
                """, logger: logger)
            try await appendAudit(AuditEvent(action: "person.update", actor: actor, target: "person:\(id)",
                                             detail: ["fields": changed.joined(separator: ",")], origin: origin),
                                  companyID: companyID, on: connection, now: Date())
            return try await attachGroups([person], on: connection)[0]
        }
    }

    /// Deletes a person, their memberships and their faces (the feed's triggers record the faces' deletions).
    func deletePerson(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await transaction(lockingCompany: companyID) { connection in
            guard let person = try await personRecord(id: id, companyID: companyID, on: connection) else { throw StoreError.notFound(.person) }
            let faces = try await connection.run("DELETE FROM faces WHERE person_id = \(id) AND company_id = \(companyID) RETURNING id",
                                                   logger: logger).decode(Int64.self).elements()
            _ = try await connection.run("DELETE FROM persons WHERE id = \(id)", logger: logger)
            var detail = ["faces_deleted": String(faces.count), "face_ids": AuditLog.idList(faces)]
            if let externalID = person.externalID { detail["external_id"] = externalID }
            try await appendAudit(AuditEvent(action: "person.delete", actor: actor, target: "person:\(id)", detail: detail, origin: origin),
                                  companyID: companyID, on: connection, now: Date())
        }
    }
}
