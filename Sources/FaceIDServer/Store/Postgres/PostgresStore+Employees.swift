import Foundation
import Logging
import PostgresNIO

/// Employees (persons with a timekeeper id), kiosk face registrations and devices' acknowledgements on PostgreSQL:
/// `EmployeeRepository`, with the SQLite store's answers.
extension PostgresStore: EmployeeRepository {
    /// An employee of the company, deleted ones included.
    private func employeeRecord(id: Int64, companyID: Int64, on connection: PostgresConnection) async throws -> PersonRecord? {
        try await Self.persons(try await connection.run("""
            SELECT \(unescaped: Self.personColumns) FROM persons WHERE id = \(id) AND company_id = \(companyID) AND timekeeper_id IS NOT NULL
            """, logger: logger)).first
    }

    private func requireFreeTimekeeperID(_ timekeeperID: String, companyID: Int64, except: Int64?, on connection: PostgresConnection) async throws {
        if let other = try await connection.run(
            "SELECT id FROM persons WHERE company_id = \(companyID) AND timekeeper_id = \(timekeeperID)", logger: logger
        ).decode(Int64.self).elements().first, other != except {
            throw StoreError.timekeeperIDTaken(employeeID: other)
        }
    }

    /// Each person with their latest registered dlib face (kiosks hold dlib encodings only; a quarantined face is left out)
    /// and their face count.
    func withFaces(_ records: [PersonRecord], on connection: PostgresConnection) async throws -> [Store.Employee] {
        guard !records.isEmpty else { return [] }
        let faces = try await Self.faces(try await connection.run("""
            SELECT \(unescaped: Self.faceColumns) FROM faces WHERE person_id = ANY(\(records.map { $0.id! })) AND model_id = 'dlib-resnet-v1'
            AND id NOT IN (SELECT face_id FROM quarantined_faces)
            """, logger: logger))
        let byPerson = Dictionary(grouping: faces, by: \.personID)
        return records.map { person in
            let own = byPerson[person.id!] ?? []
            return Store.Employee(record: person, face: own.max { ($0.registration, $0.id!) < ($1.registration, $1.id!) }, faceCount: own.count)
        }
    }

    // MARK: HR

    func createEmployee(_ row: Store.EmployeeRow, companyID: Int64, actor: String, origin: RequestOrigin) async throws -> Store.Employee {
        try await transaction(lockingCompany: companyID) { connection in
            try await requireFreeTimekeeperID(row.timekeeperID, companyID: companyID, except: nil, on: connection)
            let now = Date()
            var person = Self.newPerson(companyID: companyID, row: row, now: now)
            person = try await insertPerson(person, groups: [], actor: actor, origin: origin, on: connection).record
            return Store.Employee(record: person, face: nil, faceCount: 0)
        }
    }

    private static func newPerson(companyID: Int64, row: Store.EmployeeRow, now: Date) -> PersonRecord {
        PersonRecord(id: nil, companyID: companyID, externalID: row.externalID, fullName: row.name, tags: "[]", metadata: "{}",
                     createdAt: now, updatedAt: now, timekeeperID: row.timekeeperID)
    }

    func importEmployees(_ rows: [Store.EmployeeRow], companyID: Int64, actor: String, origin: RequestOrigin) async throws
        -> (created: Int, updated: Int) {
        try await transaction(lockingCompany: companyID) { connection in
            var created: [Int64] = [], updated: [Int64] = []
            let now = Date()
            for row in rows {
                if var person = try await Self.persons(try await connection.run("""
                    SELECT \(unescaped: Self.personColumns) FROM persons WHERE company_id = \(companyID) AND timekeeper_id = \(row.timekeeperID)
                    """, logger: logger)).first {
                    // In the import = employed: a deleted (resigned) employee is reinstated.
                    guard person.fullName != row.name || (row.externalID != nil && person.externalID != row.externalID)
                            || person.deletedAt != nil else { continue }
                    if let externalID = row.externalID, externalID != person.externalID {
                        try await requireFreeExternalID(externalID, companyID: companyID, except: person.id, on: connection)
                        person.externalID = externalID
                    }
                    _ = try await connection.run("""
                        UPDATE persons SET deleted_at = NULL, external_id = \(person.externalID), full_name = \(row.name), updated_at = \(now)
                        WHERE id = \(person.id!)
                        """, logger: logger)
                    updated.append(person.id!)
                } else {
                    let person = Self.newPerson(companyID: companyID, row: row, now: now)
                    created.append(try await insertPerson(person, groups: [], actor: actor, origin: origin, on: connection).record.id!)
                }
            }
            try await appendAudit(AuditEvent(action: "employee.import", actor: actor, target: "company:\(companyID)",
                                             detail: ["created": String(created.count), "updated": String(updated.count),
                                                      "created_ids": AuditLog.idList(created), "updated_ids": AuditLog.idList(updated)],
                                             origin: origin),
                                  companyID: companyID, on: connection, now: now)
            return (created.count, updated.count)
        }
    }

    func employees(companyID: Int64, includeDeleted: Bool, afterID: Int64?, limit: Int) async throws -> [Store.Employee] {
        var query = Statement("SELECT \(Self.personColumns) FROM persons")
        query.append(" WHERE company_id = ? AND timekeeper_id IS NOT NULL", companyID)
        if !includeDeleted { query.append(" AND deleted_at IS NULL") }
        if let afterID { query.append(" AND id > ?", afterID) }
        query.append(" ORDER BY id LIMIT ?", Int64(limit))
        return try await client.withConnection { connection in
            try await withFaces(try await Self.persons(try await connection.run(query.query, logger: logger)), on: connection)
        }
    }

    func employee(id: Int64, companyID: Int64) async throws -> Store.Employee? {
        try await client.withConnection { connection in
            guard let person = try await employeeRecord(id: id, companyID: companyID, on: connection) else { return nil }
            return try await withFaces([person], on: connection).first
        }
    }

    func updateEmployee(id: Int64, companyID: Int64, change: Store.EmployeeChange, actor: String, origin: RequestOrigin) async throws
        -> Store.Employee {
        try await transaction(lockingCompany: companyID) { connection in
            guard var person = try await employeeRecord(id: id, companyID: companyID, on: connection) else { throw StoreError.notFound(.employee) }
            var changed: [String] = []
            if let name = change.name, name != person.fullName { person.fullName = name; changed.append("name") }
            if let timekeeperID = change.timekeeperID, timekeeperID != person.timekeeperID {
                try await requireFreeTimekeeperID(timekeeperID, companyID: companyID, except: id, on: connection)
                person.timekeeperID = timekeeperID
                changed.append("timekeeper_id")
            }
            if let externalID = change.externalID, externalID != person.externalID {
                try await requireFreeExternalID(externalID, companyID: companyID, except: id, on: connection)
                person.externalID = externalID
                changed.append("external_id")
            }
            if change.resigned == false, person.deletedAt != nil { person.deletedAt = nil; changed.append("reinstated") }
            person.updatedAt = Date()
            _ = try await connection.run("""
                UPDATE persons SET full_name = \(person.fullName), timekeeper_id = \(person.timekeeperID), external_id = \(person.externalID),
                       deleted_at = \(person.deletedAt), updated_at = \(person.updatedAt) WHERE id = \(id)
                """, logger: logger)
            try await appendAudit(AuditEvent(action: "employee.update", actor: actor, target: "person:\(id)",
                                             detail: ["fields": changed.joined(separator: ",")], origin: origin),
                                  companyID: companyID, on: connection, now: Date())
            if change.resigned == true, person.deletedAt == nil {
                try await softDelete(person, actor: actor, origin: origin, on: connection)
            }
            guard let current = try await employeeRecord(id: id, companyID: companyID, on: connection) else {
                throw StoreError.inconsistent("the employee this transaction updated is gone")
            }
            return try await withFaces([current], on: connection)[0]
        }
    }

    func deleteEmployee(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await transaction(lockingCompany: companyID) { connection in
            guard let person = try await employeeRecord(id: id, companyID: companyID, on: connection), person.deletedAt == nil else {
                throw StoreError.notFound(.employee)
            }
            try await softDelete(person, actor: actor, origin: origin, on: connection)
        }
    }

    /// The record stays (payroll); the faces leave the store, the index and — as a tombstone — every kiosk.
    private func softDelete(_ person: PersonRecord, actor: String, origin: RequestOrigin, on connection: PostgresConnection) async throws {
        let faces = try await connection.run("DELETE FROM faces WHERE person_id = \(person.id!) RETURNING id", logger: logger)
            .decode(Int64.self).elements()
        let now = Date()
        _ = try await connection.run("""
            UPDATE persons SET deleted_at = \(now), updated_at = \(now),
                   face_deleted_at = CASE WHEN \(!faces.isEmpty) THEN \(now) ELSE face_deleted_at END WHERE id = \(person.id!)
            """, logger: logger)
        try await appendAudit(AuditEvent(action: "employee.delete", actor: actor, target: "person:\(person.id!)",
                                         detail: ["faces_deleted": String(faces.count), "face_ids": AuditLog.idList(faces)], origin: origin),
                              companyID: person.companyID, on: connection, now: now)
    }

    // MARK: Kiosk faces

    func ownership(ofEmployee id: Int64, companyID: Int64) async throws -> Store.Ownership {
        guard let person = try await Self.persons(try await fetch(
            "SELECT \(unescaped: Self.personColumns) FROM persons WHERE id = \(id)", logger: logger)).first,
              person.deletedAt == nil, person.timekeeperID != nil else { return .missing }
        return person.companyID == companyID ? .own(person) : .otherCompany
    }

    func registerKioskFace(employeeID: Int64, companyID: Int64, encoding: [Double], registeredAt: Date?, keyRing: KeyRing, actor: String,
                           deviceID: Int64?, origin: RequestOrigin) async throws -> Date {
        try await transaction(lockingCompany: companyID) { connection in
            try await markApplied(Idempotency.current, companyID: companyID, on: connection)
            guard let person = try await personRecord(id: employeeID, companyID: companyID, on: connection),
                  let wrapped = try await connection.run("SELECT wrapped_key FROM companies WHERE id = \(companyID)", logger: logger)
                    .decode(Data.self).elements().first else { throw StoreError.notFound(.employee) }
            let now = Date()
            // The store compares at milliseconds, so a retried upload is not stale against itself.
            func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
            let registered = Date(timeIntervalSince1970: Double(millis(min(registeredAt ?? now, now))) / 1000)
            let existing = try await Self.faces(try await connection.run(
                "SELECT \(unescaped: Self.faceColumns) FROM faces WHERE person_id = \(employeeID)", logger: logger))
            if registeredAt != nil {
                if let latest = existing.map(\.registration).max(), millis(registered) < millis(latest) {
                    throw StoreError.staleRegistration(stored: latest, deleted: false)
                }
                if let deleted = person.faceDeletedAt, millis(registered) < millis(deleted) {
                    throw StoreError.staleRegistration(stored: deleted, deleted: true)
                }
            }
            let kiosk = existing.filter { $0.source == "kiosk" }.map { $0.id! }
            if !kiosk.isEmpty { _ = try await connection.run("DELETE FROM faces WHERE id = ANY(\(kiosk))", logger: logger) }
            let id = try await connection.run("SELECT nextval(pg_get_serial_sequence('faces', 'id'))", logger: logger)
                .decode(Int64.self).elements()[0]
            let sealed = try await keyRing.loadSealer(companyID: companyID, wrappedKey: wrapped).seal(FaceEncoding.bytes(encoding), recordID: "face:\(id)")
            _ = try await connection.run("""
                INSERT INTO faces (id, company_id, person_id, sealed_encoding, model_id, source, reference, created_at, registered_at)
                VALUES (\(id), \(companyID), \(employeeID), \(sealed), \(FaceEncoding.modelID), 'kiosk', FALSE, \(now), \(registered))
                """, logger: logger)
            var detail = ["message": "Face registered from Desktop Kiosk", "face": "face:\(id)"]
            if let deviceID { detail["device"] = "device:\(deviceID)" }
            try await appendAudit(AuditEvent(action: "face.kiosk_register", actor: actor, target: "person:\(employeeID)", detail: detail,
                                             origin: origin),
                                  companyID: companyID, on: connection, now: now)
            return registered
        }
    }

    func deleteKioskFaces(employeeID: Int64, companyID: Int64, actor: String, deviceID: Int64?, origin: RequestOrigin) async throws -> Bool {
        try await transaction(lockingCompany: companyID) { connection in
            try await markApplied(Idempotency.current, companyID: companyID, on: connection)
            guard try await personRecord(id: employeeID, companyID: companyID, on: connection) != nil else { return false }
            let faces = try await connection.run("DELETE FROM faces WHERE person_id = \(employeeID) RETURNING id", logger: logger)
                .decode(Int64.self).elements()
            guard !faces.isEmpty else { return false }
            _ = try await connection.run("UPDATE persons SET face_deleted_at = now() WHERE id = \(employeeID)", logger: logger)
            var detail = ["message": "Face data deleted from Desktop Kiosk", "faces_deleted": String(faces.count)]
            if let deviceID { detail["device"] = "device:\(deviceID)" }
            try await appendAudit(AuditEvent(action: "face.kiosk_delete", actor: actor, target: "person:\(employeeID)", detail: detail,
                                             origin: origin),
                                  companyID: companyID, on: connection, now: Date())
            return true
        }
    }

    // MARK: The employee table

    func activeEmployeeCount(companyID: Int64) async throws -> Int {
        Int(try await fetch("""
            SELECT count(*) FROM persons WHERE company_id = \(companyID) AND deleted_at IS NULL AND timekeeper_id IS NOT NULL
            """, logger: logger).decode(Int64.self).elements().first ?? 0)
    }

    func timekeeperPage(companyID: Int64, page: Int, pageSize: Int) async throws -> (total: Int, employees: [Store.Employee]) {
        try await client.withConnection { connection in
            let total = try await connection.run("""
                SELECT count(*) FROM persons WHERE company_id = \(companyID) AND deleted_at IS NULL AND timekeeper_id IS NOT NULL
                """, logger: logger).decode(Int64.self).elements().first ?? 0
            let records = try await Self.persons(try await connection.run("""
                SELECT \(unescaped: Self.personColumns) FROM persons
                WHERE company_id = \(companyID) AND deleted_at IS NULL AND timekeeper_id IS NOT NULL
                ORDER BY id LIMIT \(Int64(pageSize)) OFFSET \(Int64((page - 1) * pageSize))
                """, logger: logger))
            return (Int(total), try await withFaces(records, on: connection))
        }
    }

    // MARK: Acknowledgements

    func acknowledge(deviceID: Int64, companyID: Int64, seq: Int64) async throws -> DeviceRecord {
        try await transaction(lockingCompany: companyID) { connection in
            guard try await Self.devices(try await connection.run(
                "SELECT \(unescaped: Self.deviceColumns) FROM devices WHERE id = \(deviceID) AND company_id = \(companyID) FOR NO KEY UPDATE",
                logger: logger)).first != nil else { throw StoreError.notFound(.device) }
            guard seq <= (try await feedHead(companyID: companyID, on: connection)).lastSeq else { throw StoreError.beyondFeedEnd }
            return try await Self.devices(try await connection.run("""
                UPDATE devices SET acked_seq = GREATEST(COALESCE(acked_seq, 0), \(seq)), acked_at = now() WHERE id = \(deviceID)
                RETURNING \(unescaped: Self.deviceColumns)
                """, logger: logger))[0]
        }
    }

    func propagation(employeeID: Int64, companyID: Int64) async throws -> (latest: (seq: Int64, atMicros: Int64?), devices: [DeviceRecord])? {
        try await client.withConnection { connection in
            guard try await employeeRecord(id: employeeID, companyID: companyID, on: connection) != nil else { return nil }
            let row = try await connection.run("""
                SELECT seq, at_micros FROM changes WHERE company_id = \(companyID) AND person_id = \(employeeID) AND employee
                ORDER BY seq DESC LIMIT 1
                """, logger: logger).decode((Int64, Int64).self).elements().first
            let devices = try await Self.devices(try await connection.run(
                "SELECT \(unescaped: Self.deviceColumns) FROM devices WHERE company_id = \(companyID) ORDER BY id", logger: logger))
            let latest: (seq: Int64, atMicros: Int64?)
            if let row {
                latest = (row.0, row.1)
            } else {
                latest = (try await feedHead(companyID: companyID, on: connection).purgedThrough, nil)
            }
            return (latest, devices)
        }
    }
}
