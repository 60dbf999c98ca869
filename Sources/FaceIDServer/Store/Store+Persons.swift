import Foundation
import GRDB

/// Persons and groups. As everywhere in the store, every query carries the company.
extension Store {
    /// A person with the names of their groups.
    struct Person: Sendable {
        var record: PersonRecord
        var groups: [String]
    }

    /// What `PATCH /persons/{id}` changes; nil keeps the current value (`externalID` `.some(nil)` clears it).
    struct PersonChange: Sendable {
        var externalID: String??
        var fullName: String?
        var tags: [String]?
        var groups: [String]?
        var metadata: String?
    }

    /// `GET /persons` filters; ascending ids, `afterID` is the cursor of the previous page.
    struct PersonFilter: Sendable {
        var group: String?
        var tag: String?
        var externalID: String?
        /// A substring of the full name, case-insensitive.
        var name: String?
        var afterID: Int64?
        var limit: Int
    }

    // MARK: Groups

    func createGroup(_ group: GroupRecord, actor: String, origin: RequestOrigin) async throws -> GroupRecord {
        try await pool.write { db in
            if try GroupRecord.filter(Column("companyID") == group.companyID && Column("name") == group.name).fetchCount(db) > 0 {
                throw StoreError.groupExists
            }
            var group = group
            try group.insert(db)
            try AuditLog.append(
                AuditEvent(action: "group.create", actor: actor, target: "group:\(group.id!)", detail: ["name": group.name], origin: origin),
                companyID: group.companyID, db: db)
            return group
        }
    }

    /// Every group of the company with its member count.
    func groups(companyID: Int64) async throws -> [(GroupRecord, Int)] {
        try await pool.read { db in
            let groups = try GroupRecord.filter(Column("companyID") == companyID).order(Column("name")).fetchAll(db)
            let counts = try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: """
                SELECT groupID, COUNT(*) AS n FROM personGroups WHERE companyID = ? GROUP BY groupID
                """, arguments: [companyID]).map { (row: Row) -> (Int64, Int) in (row["groupID"], row["n"]) })
            return groups.map { ($0, counts[$0.id!] ?? 0) }
        }
    }

    /// Deletes a group; its members stay, without that membership.
    func deleteGroup(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await deleteOwned(GroupRecord.self, id: id, companyID: companyID, entity: .group, audit: "group", name: \.name,
                              actor: actor, origin: origin)
    }

    // MARK: Persons

    func createPerson(_ person: PersonRecord, groups: [String], actor: String, origin: RequestOrigin) async throws -> Person {
        try await pool.write { db in try Self.insertPerson(person, groups: groups, actor: actor, origin: origin, db: db) }
    }

    /// Inserts a person with their groups and the audit event, inside the caller's transaction.
    static func insertPerson(_ person: PersonRecord, groups: [String], actor: String, origin: RequestOrigin, db: Database) throws -> Person {
        try requireFreeExternalID(person.externalID, companyID: person.companyID, except: nil, db: db)
        let groupIDs = try groupIDs(groups, companyID: person.companyID, db: db)
        var person = person
        try person.insert(db)
        try setGroups(groupIDs, person: person, db: db)
        try AuditLog.append(
            AuditEvent(action: "person.create", actor: actor, target: "person:\(person.id!)",
                       detail: person.externalID.map { ["external_id": $0] } ?? [:], origin: origin),
            companyID: person.companyID, db: db)
        return Person(record: person, groups: groups.uniqued())
    }

    func person(id: Int64, companyID: Int64) async throws -> Person? {
        try await pool.read { db in
            guard let record = try Self.personRecord(id: id, companyID: companyID, db: db) else { return nil }
            return try Self.attachGroups([record], db: db).first
        }
    }

    func persons(companyID: Int64, filter: PersonFilter) async throws -> [Person] {
        try await pool.read { db in
            var request = PersonRecord.filter(Column("companyID") == companyID && Column("deletedAt") == nil)
            if let afterID = filter.afterID { request = request.filter(Column("id") > afterID) }
            if let externalID = filter.externalID { request = request.filter(Column("externalID") == externalID) }
            if let name = filter.name {
                let pattern = "%" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                    .replacingOccurrences(of: "_", with: "\\_") + "%"
                request = request.filter(sql: "fullName LIKE ? ESCAPE '\\'", arguments: [pattern])
            }
            if let tag = filter.tag {
                request = request.filter(sql: "EXISTS (SELECT 1 FROM json_each(persons.tags) WHERE json_each.value = ?)", arguments: [tag])
            }
            if let group = filter.group {
                request = request.filter(sql: """
                    id IN (SELECT personGroups.personID FROM personGroups JOIN "groups" g ON g.id = personGroups.groupID
                           WHERE g.companyID = ? AND g.name = ?)
                    """, arguments: [companyID, group])
            }
            return try Self.attachGroups(request.order(Column("id")).limit(filter.limit).fetchAll(db), db: db)
        }
    }

    func updatePerson(id: Int64, companyID: Int64, change: PersonChange, actor: String, origin: RequestOrigin) async throws -> Person {
        try await pool.write { db in
            guard var person = try Self.personRecord(id: id, companyID: companyID, db: db) else { throw StoreError.notFound(.person) }
            var changed: [String] = []
            if let externalID = change.externalID, externalID != person.externalID {
                try Self.requireFreeExternalID(externalID, companyID: companyID, except: id, db: db)
                person.externalID = externalID
                changed.append("external_id")
            }
            changed += person.apply(change)
            if let groups = change.groups {
                let groupIDs = try Self.groupIDs(groups, companyID: companyID, db: db)
                try db.execute(sql: "DELETE FROM personGroups WHERE personID = ?", arguments: [id])
                try Self.setGroups(groupIDs, person: person, db: db)
                changed.append("groups")
            }
            person.updatedAt = Date()
            try person.update(db)
            try AuditLog.append(
                AuditEvent(action: "person.update", actor: actor, target: "person:\(id)",
                           detail: ["fields": changed.joined(separator: ",")], origin: origin),
                companyID: companyID, db: db)
            return try Self.attachGroups([person], db: db)[0]
        }
    }

    /// Deletes a person, their memberships and their faces (with delete changes in the feed).
    func deletePerson(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await pool.write { db in
            guard let person = try Self.personRecord(id: id, companyID: companyID, db: db) else { throw StoreError.notFound(.person) }
            // Faces leave through the feed, so the index and kiosks drop them too.
            let faces = try FaceRecord.filter(Column("personID") == id && Column("companyID") == companyID).fetchAll(db)
            try Self.removeFaces(faces, db: db)
            _ = try PersonRecord.deleteOne(db, key: id)
            var detail = ["faces_deleted": String(faces.count), "face_ids": AuditLog.idList(faces.map { $0.id! })]
            if let externalID = person.externalID { detail["external_id"] = externalID }
            try AuditLog.append(AuditEvent(action: "person.delete", actor: actor, target: "person:\(id)", detail: detail, origin: origin),
                                companyID: companyID, db: db)
        }
    }

    // MARK: Helpers (inside a transaction)

    /// A person who is not deleted (a resigned employee is invisible to the persons API).
    static func personRecord(id: Int64, companyID: Int64, db: Database) throws -> PersonRecord? {
        try PersonRecord.filter(Column("id") == id && Column("companyID") == companyID && Column("deletedAt") == nil).fetchOne(db)
    }

    static func requireFreeExternalID(_ externalID: String?, companyID: Int64, except: Int64?, db: Database) throws {
        guard let externalID else { return }
        if let other = try Int64.fetchOne(db, sql: "SELECT id FROM persons WHERE companyID = ? AND externalID = ?",
                                          arguments: [companyID, externalID]), other != except {
            throw StoreError.externalIDTaken(personID: other)
        }
    }

    /// The ids of the named groups of the company; an unknown name is a 400 naming it.
    private static func groupIDs(_ names: [String], companyID: Int64, db: Database) throws -> [Int64] {
        try names.uniqued().map { name in
            guard let id = try Int64.fetchOne(db, sql: #"SELECT id FROM "groups" WHERE companyID = ? AND name = ?"#,
                                              arguments: [companyID, name]) else { throw StoreError.unknownGroup(name) }
            return id
        }
    }

    private static func setGroups(_ groupIDs: [Int64], person: PersonRecord, db: Database) throws {
        for groupID in groupIDs {
            try PersonGroupRecord(personID: person.id!, groupID: groupID, companyID: person.companyID).insert(db)
        }
    }

    static func attachGroups(_ records: [PersonRecord], db: Database) throws -> [Person] {
        guard !records.isEmpty else { return [] }
        let ids = records.compactMap(\.id)
        let placeholders = Array(repeating: "?", count: ids.count).joined(separator: ",")
        var names: [Int64: [String]] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT personGroups.personID AS personID, g.name AS name FROM personGroups
            JOIN "groups" g ON g.id = personGroups.groupID WHERE personGroups.personID IN (\(placeholders)) ORDER BY g.name
            """, arguments: StatementArguments(ids)) {
            names[row["personID"], default: []].append(row["name"])
        }
        return records.map { Person(record: $0, groups: names[$0.id!] ?? []) }
    }
}

extension PersonRecord {
    /// Applies a PATCH's name, tags and metadata (the external id and groups need the store's checks); returns the API
    /// names of the fields that changed.
    mutating func apply(_ change: Store.PersonChange) -> [String] {
        var changed: [String] = []
        if let name = change.fullName, name != fullName { fullName = name; changed.append("full_name") }
        if let newTags = change.tags {
            let encoded = PersonRecord.encodeTags(newTags)
            if encoded != tags { tags = encoded; changed.append("tags") }
        }
        if let newMetadata = change.metadata, newMetadata != metadata { metadata = newMetadata; changed.append("metadata") }
        return changed
    }

    /// The company's persons among `ids`, found by primary key. The unary `+` keeps SQLite from choosing a
    /// `companyID` index for this instead (it would, for a list of ids, and walk every person of a million-face company).
    static func byIDs(_ ids: [Int64], companyID: Int64) -> QueryInterfaceRequest<PersonRecord> {
        filter(ids.contains(Column("id"))).filter(sql: "+companyID = ?", arguments: [companyID])
    }

    static func encodeTags(_ tags: [String]) -> String {
        String(decoding: try! JSONEncoder().encode(tags.uniqued()), as: UTF8.self)  // an array of strings always encodes
    }

    var tagList: [String] { (try? JSONDecoder().decode([String].self, from: Data(tags.utf8))) ?? [] }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
