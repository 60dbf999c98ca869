import Foundation
import GRDB

/// Employees (persons with a timekeeper id, soft-deleted when they leave), kiosk face registrations and the kiosk feed.
///
/// Kiosks follow the employee rows of the one feed `changes`, which SQLite triggers append (migration v10), so every path
/// that changes an employee or a face — this file, the persons API, enrollment, imports — reaches the kiosks.
extension Store {
    /// An employee with the face kiosks sync: the latest registered one.
    struct Employee: Sendable {
        var record: PersonRecord
        var face: FaceRecord?
        var faceCount: Int
    }

    /// Where an employee id points, seen from a company.
    enum Ownership: Sendable {
        case own(PersonRecord)
        case otherCompany
        case missing
    }

    /// A row of `POST /api/employees/import`.
    struct EmployeeRow: Sendable {
        var name: String
        var timekeeperID: String
        var externalID: String?
    }

    /// What `PATCH /api/employees/{id}/` changes; nil keeps (`externalID` `.some(nil)` clears).
    struct EmployeeChange: Sendable {
        var name: String?
        var timekeeperID: String?
        var externalID: String??
        var resigned: Bool?
    }

    // MARK: HR

    func createEmployee(_ row: EmployeeRow, companyID: Int64, actor: String, origin: RequestOrigin) async throws -> Employee {
        try await pool.write { db in
            try Self.requireFreeTimekeeperID(row.timekeeperID, companyID: companyID, except: nil, db: db)
            let now = Date()
            let person = PersonRecord(id: nil, companyID: companyID, externalID: row.externalID, fullName: row.name, tags: "[]",
                                      metadata: "{}", createdAt: now, updatedAt: now, timekeeperID: row.timekeeperID)
            return Employee(record: try Self.insertPerson(person, groups: [], actor: actor, origin: origin, db: db).record,
                            face: nil, faceCount: 0)
        }
    }

    /// Creates or (matched by timekeeper id) updates every row, in one transaction: all or nothing.
    func importEmployees(_ rows: [EmployeeRow], companyID: Int64, actor: String, origin: RequestOrigin) async throws
        -> (created: Int, updated: Int) {
        try await pool.write { db in
            var created: [Int64] = [], updated: [Int64] = []
            let now = Date()
            for row in rows {
                if var person = try PersonRecord.filter(Column("companyID") == companyID && Column("timekeeperID") == row.timekeeperID)
                    .fetchOne(db) {
                    // In the import = employed: a deleted (resigned) employee is reinstated.
                    guard person.fullName != row.name || (row.externalID != nil && person.externalID != row.externalID)
                            || person.deletedAt != nil else { continue }
                    person.deletedAt = nil
                    if let externalID = row.externalID, externalID != person.externalID {
                        try Self.requireFreeExternalID(externalID, companyID: companyID, except: person.id, db: db)
                        person.externalID = externalID
                    }
                    person.fullName = row.name
                    person.updatedAt = now
                    try person.update(db)
                    updated.append(person.id!)
                } else {
                    // Created through the one path that audits every new person (`person.create`).
                    let person = PersonRecord(id: nil, companyID: companyID, externalID: row.externalID, fullName: row.name, tags: "[]",
                                              metadata: "{}", createdAt: now, updatedAt: now, timekeeperID: row.timekeeperID)
                    created.append(try Self.insertPerson(person, groups: [], actor: actor, origin: origin, db: db).record.id!)
                }
            }
            try AuditLog.append(
                AuditEvent(action: "employee.import", actor: actor, target: "company:\(companyID)",
                           detail: ["created": String(created.count), "updated": String(updated.count),
                                    "created_ids": AuditLog.idList(created), "updated_ids": AuditLog.idList(updated)],
                           origin: origin),
                companyID: companyID, db: db)
            return (created.count, updated.count)
        }
    }

    /// The company's employees by ascending id (`includeDeleted` adds those who left).
    func employees(companyID: Int64, includeDeleted: Bool, afterID: Int64?, limit: Int) async throws -> [Employee] {
        try await pool.read { db in
            var request = PersonRecord.filter(Column("companyID") == companyID && Column("timekeeperID") != nil)
            if !includeDeleted { request = request.filter(Column("deletedAt") == nil) }
            if let afterID { request = request.filter(Column("id") > afterID) }
            return try Self.withFaces(request.order(Column("id")).limit(limit).fetchAll(db), db: db)
        }
    }

    /// An employee of the company, deleted ones included.
    func employee(id: Int64, companyID: Int64) async throws -> Employee? {
        try await pool.read { db in
            guard let person = try Self.employeeRecord(id: id, companyID: companyID, db: db) else { return nil }
            return try Self.withFaces([person], db: db).first
        }
    }

    func updateEmployee(id: Int64, companyID: Int64, change: EmployeeChange, actor: String, origin: RequestOrigin) async throws -> Employee {
        try await pool.write { db in
            guard var person = try Self.employeeRecord(id: id, companyID: companyID, db: db) else { throw StoreError.notFound(.employee) }
            var changed: [String] = []
            if let name = change.name, name != person.fullName { person.fullName = name; changed.append("name") }
            if let timekeeperID = change.timekeeperID, timekeeperID != person.timekeeperID {
                try Self.requireFreeTimekeeperID(timekeeperID, companyID: companyID, except: id, db: db)
                person.timekeeperID = timekeeperID
                changed.append("timekeeper_id")
            }
            if let externalID = change.externalID, externalID != person.externalID {
                try Self.requireFreeExternalID(externalID, companyID: companyID, except: id, db: db)
                person.externalID = externalID
                changed.append("external_id")
            }
            if change.resigned == false, person.deletedAt != nil { person.deletedAt = nil; changed.append("reinstated") }
            person.updatedAt = Date()
            try person.update(db)
            try AuditLog.append(
                AuditEvent(action: "employee.update", actor: actor, target: "person:\(id)", detail: ["fields": changed.joined(separator: ",")],
                           origin: origin),
                companyID: companyID, db: db)
            if change.resigned == true, person.deletedAt == nil {
                try Self.softDelete(person, actor: actor, origin: origin, db: db)
            }
            return try Self.withFaces([Self.person(id, db: db)], db: db)[0]
        }
    }

    /// Deleted or resigned: the record stays (payroll), its faces leave the store, the index and — as a tombstone — every kiosk.
    func deleteEmployee(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await pool.write { db in
            guard let person = try Self.employeeRecord(id: id, companyID: companyID, db: db), person.deletedAt == nil else {
                throw StoreError.notFound(.employee)
            }
            try Self.softDelete(person, actor: actor, origin: origin, db: db)
        }
    }

    private static func softDelete(_ person: PersonRecord, actor: String, origin: RequestOrigin, db: Database) throws {
        var person = person
        let faces = try FaceRecord.filter(Column("personID") == person.id!).fetchAll(db)
        try removeFaces(faces, db: db)
        person.deletedAt = Date()
        if !faces.isEmpty { person.faceDeletedAt = person.deletedAt }
        person.updatedAt = person.deletedAt!
        try person.update(db)
        try AuditLog.append(
            AuditEvent(action: "employee.delete", actor: actor, target: "person:\(person.id!)",
                       detail: ["faces_deleted": String(faces.count), "face_ids": AuditLog.idList(faces.map { $0.id! })], origin: origin),
            companyID: person.companyID, db: db)
    }

    // MARK: Kiosk faces

    /// Whose employee `id` is: the company's (active), another company's, or nobody's.
    func ownership(ofEmployee id: Int64, companyID: Int64) async throws -> Ownership {
        try await pool.read { db in
            guard let person = try PersonRecord.fetchOne(db, key: id), person.deletedAt == nil, person.timekeeperID != nil else { return .missing }
            return person.companyID == companyID ? .own(person) : .otherCompany
        }
    }

    /// Stores a kiosk's encoding as the employee's face (replacing earlier kiosk faces), with feed rows and the audit
    /// event, in one transaction. `registeredAt` (the kiosk's own time, clamped to now) older than the stored
    /// registration is a 409 `stale_registration`. Returns the stored registration time.
    func registerKioskFace(
        employeeID: Int64, companyID: Int64, encoding: [Double], registeredAt: Date?, keyRing: KeyRing, actor: String,
        deviceID: Int64?, origin: RequestOrigin
    ) async throws -> Date {
        let mark = Idempotency.current
        return try await pool.write { db in
            try Self.markApplied(mark, companyID: companyID, db: db)
            guard let person = try Self.personRecord(id: employeeID, companyID: companyID, db: db),
                  let company = try CompanyRecord.fetchOne(db, key: companyID) else { throw StoreError.notFound(.employee) }
            let now = Date()
            // The store keeps milliseconds: compare at that precision, so a retried upload is not stale against itself.
            func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
            let registered = Date(timeIntervalSince1970: Double(millis(min(registeredAt ?? now, now))) / 1000)
            let existing = try FaceRecord.filter(Column("personID") == employeeID).fetchAll(db)
            // Newer than every stored face and than the last deletion: a deleted face cannot come back from an old upload.
            if registeredAt != nil {
                if let latest = existing.map(\.registration).max(), millis(registered) < millis(latest) {
                    throw StoreError.staleRegistration(stored: latest, deleted: false)
                }
                if let deleted = person.faceDeletedAt, millis(registered) < millis(deleted) {
                    throw StoreError.staleRegistration(stored: deleted, deleted: true)
                }
            }
            try Self.removeFaces(existing.filter { $0.source == "kiosk" }, db: db)
            var face = FaceRecord(id: nil, companyID: companyID, personID: employeeID, sealedEncoding: Data(), modelID: FaceEncoding.modelID,
                                  source: "kiosk", reference: false, createdAt: now, registeredAt: registered)
            try face.insert(db)
            face.sealedEncoding = try keyRing.sealer(companyID: companyID, wrappedKey: company.wrappedKey)
                .seal(FaceEncoding.bytes(encoding), recordID: "face:\(face.id!)")
            try face.update(db)
            var detail = ["message": "Face registered from Desktop Kiosk", "face": "face:\(face.id!)"]
            if let deviceID { detail["device"] = "device:\(deviceID)" }
            try AuditLog.append(
                AuditEvent(action: "face.kiosk_register", actor: actor, target: "person:\(person.id!)", detail: detail, origin: origin),
                companyID: companyID, db: db)
            return registered
        }
    }

    /// Deletes every face of the employee (feed rows, audit). False when there was none.
    func deleteKioskFaces(employeeID: Int64, companyID: Int64, actor: String, deviceID: Int64?, origin: RequestOrigin) async throws -> Bool {
        let mark = Idempotency.current
        return try await pool.write { db in
            try Self.markApplied(mark, companyID: companyID, db: db)
            guard var person = try Self.personRecord(id: employeeID, companyID: companyID, db: db) else { return false }
            let faces = try FaceRecord.filter(Column("personID") == employeeID).fetchAll(db)
            guard !faces.isEmpty else { return false }
            try Self.removeFaces(faces, db: db)
            person.faceDeletedAt = Date()
            try person.update(db)
            var detail = ["message": "Face data deleted from Desktop Kiosk", "faces_deleted": String(faces.count)]
            if let deviceID { detail["device"] = "device:\(deviceID)" }
            try AuditLog.append(
                AuditEvent(action: "face.kiosk_delete", actor: actor, target: "person:\(employeeID)", detail: detail, origin: origin),
                companyID: companyID, db: db)
            return true
        }
    }

    // MARK: Timekeeper list and feed

    /// The active employees of the company (what kiosks list).
    private static func activeEmployees(companyID: Int64) -> QueryInterfaceRequest<PersonRecord> {
        PersonRecord.filter(Column("companyID") == companyID && Column("deletedAt") == nil && Column("timekeeperID") != nil)
    }

    /// How many active employees the company has (`X-Total-Count` of the whole table).
    func activeEmployeeCount(companyID: Int64) async throws -> Int {
        try await pool.read { db in try Self.activeEmployees(companyID: companyID).fetchCount(db) }
    }

    /// Page `page` (from 1) of the active employees by id, and their total.
    func timekeeperPage(companyID: Int64, page: Int, pageSize: Int) async throws -> (total: Int, employees: [Employee]) {
        try await pool.read { db in
            let active = Self.activeEmployees(companyID: companyID)
            let total = try active.fetchCount(db)
            let records = try active.order(Column("id")).limit(pageSize, offset: (page - 1) * pageSize).fetchAll(db)
            return (total, try Self.withFaces(records, db: db))
        }
    }

    /// The feed's last sequence number and how far it was purged.
    struct FeedHead: Sendable {
        var lastSeq: Int64
        var purgedThrough: Int64
    }

    func feedHead(companyID: Int64) async throws -> FeedHead {
        try await pool.read { db in try Self.feedHead(companyID: companyID, db: db) }
    }

    /// The last position is never below the purge: a feed purged empty still hands out a cursor that works.
    private static func feedHead(companyID: Int64, db: Database) throws -> FeedHead {
        FeedHead(lastSeq: try feedPosition(companyID: companyID, db: db), purgedThrough: try purgedThrough(companyID: companyID, db: db))
    }

    /// The employees changed after `seq` (their record or their face), each once at their last change, in feed order, at most
    /// `limit`; an employee that no longer exists (or left) comes back as nil — a tombstone. Also the head of the feed.
    func employeeChanges(companyID: Int64, after seq: Int64, limit: Int) async throws
        -> (changes: [(seq: Int64, personID: Int64, employee: Employee?)], head: FeedHead) {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT personID, MAX(seq) AS seq FROM changes INDEXED BY changes_company_employee_seq
                WHERE companyID = ? AND seq > ? AND employee GROUP BY personID ORDER BY seq LIMIT ?
                """, arguments: [companyID, seq, limit])
            let ids: [Int64] = rows.map { $0["personID"] }
            let active = try PersonRecord.byIDs(ids, companyID: companyID).filter(Column("deletedAt") == nil && Column("timekeeperID") != nil)
                .fetchAll(db)
            let employees = Dictionary(uniqueKeysWithValues: try Self.withFaces(active, db: db).map { ($0.record.id!, $0) })
            return (rows.map { (seq: $0["seq"], personID: $0["personID"], employee: employees[$0["personID"]]) },
                    try Self.feedHead(companyID: companyID, db: db))
        }
    }

    /// Drops the company's feed rows older than `horizon` — but never one a consumer has not applied: none past `limit`
    /// (the index's lowest watermark) nor past the lowest acknowledgement of a kiosk that has acknowledged. Records how far:
    /// older cursors are expired. Returns that position (0: nothing purged yet).
    @discardableResult
    func purgeFeed(companyID: Int64, olderThan horizon: Date, notPast limit: Int64 = .max) async throws -> Int64 {
        let micros = Int64(horizon.timeIntervalSince1970 * 1e6)
        return try await pool.write { db in
            // The first row kept by time (seq and time grow together): everything before it may go, found without a scan.
            let kept = try Int64.fetchOne(db, sql: "SELECT seq FROM changes WHERE companyID = ? AND atMicros >= ? ORDER BY seq LIMIT 1",
                                          arguments: [companyID, micros])
            let acknowledged = try Int64.fetchOne(db, sql: "SELECT MIN(ackedSeq) FROM devices WHERE companyID = ? AND ackedSeq IS NOT NULL",
                                                  arguments: [companyID])
            let bound = min((kept ?? .max) - 1, limit, acknowledged ?? .max)
            let previous = try Self.purgedThrough(companyID: companyID, db: db)
            guard let through = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM changes WHERE companyID = ? AND seq <= ?",
                                                   arguments: [companyID, bound]), through > previous else { return previous }
            try db.execute(sql: "DELETE FROM changes WHERE companyID = ? AND seq <= ?", arguments: [companyID, through])
            try db.execute(sql: """
                INSERT INTO syncState (companyID, purgedThroughSeq) VALUES (?, ?)
                ON CONFLICT(companyID) DO UPDATE SET purgedThroughSeq = MAX(purgedThroughSeq, excluded.purgedThroughSeq)
                """, arguments: [companyID, through])
            return through
        }
    }

    /// Records that the device applied the feed through `seq` (never moving backwards; never past the feed's end).
    func acknowledge(deviceID: Int64, companyID: Int64, seq: Int64) async throws -> DeviceRecord {
        try await pool.write { db in
            guard var device = try DeviceRecord.owned(deviceID, companyID: companyID, db: db) else {
                throw StoreError.notFound(.device)
            }
            guard seq <= (try Self.feedHead(companyID: companyID, db: db)).lastSeq else {
                throw StoreError.beyondFeedEnd
            }
            device.ackedSeq = max(device.ackedSeq ?? 0, seq)
            device.ackedAt = Date()
            try device.update(db)
            return device
        }
    }

    /// The employee's last feed position (its rows purged: at most the purge position, time unknown) and every device.
    func propagation(employeeID: Int64, companyID: Int64) async throws -> (latest: (seq: Int64, atMicros: Int64?), devices: [DeviceRecord])? {
        try await pool.read { db in
            guard try Self.employeeRecord(id: employeeID, companyID: companyID, db: db) != nil else { return nil }
            let row = try Row.fetchOne(db, sql: "SELECT seq, atMicros FROM changes WHERE personID = ? AND employee ORDER BY seq DESC LIMIT 1",
                                       arguments: [employeeID])
            let devices = try DeviceRecord.filter(Column("companyID") == companyID).order(Column("id")).fetchAll(db)
            let latest = try row.map { (seq: $0["seq"] as Int64, atMicros: $0["atMicros"] as Int64?) }
                ?? (seq: Self.feedHead(companyID: companyID, db: db).purgedThrough, atMicros: nil)
            return (latest, devices)
        }
    }

    // MARK: Helpers

    /// A person of the company with a timekeeper id, deleted ones included.
    private static func employeeRecord(id: Int64, companyID: Int64, db: Database) throws -> PersonRecord? {
        try PersonRecord.filter(Column("id") == id && Column("companyID") == companyID && Column("timekeeperID") != nil).fetchOne(db)
    }

    private static func person(_ id: Int64, db: Database) throws -> PersonRecord {
        guard let person = try PersonRecord.fetchOne(db, key: id) else { throw StoreError.notFound(.employee) }
        return person
    }

    private static func requireFreeTimekeeperID(_ timekeeperID: String, companyID: Int64, except: Int64?, db: Database) throws {
        if let other = try Int64.fetchOne(db, sql: "SELECT id FROM persons WHERE companyID = ? AND timekeeperID = ?",
                                          arguments: [companyID, timekeeperID]), other != except {
            throw StoreError.timekeeperIDTaken(employeeID: other)
        }
    }

    /// Each person with their latest registered face and face count.
    private static func withFaces(_ records: [PersonRecord], db: Database) throws -> [Employee] {
        guard !records.isEmpty else { return [] }
        var faces: [Int64: [FaceRecord]] = [:]
        for chunk in stride(from: 0, to: records.count, by: 500).map({ records[$0..<min($0 + 500, records.count)] }) {
            // Kiosks hold dlib encodings only: a face imported with another model's embedding alone is not theirs.
            // A quarantined face (its encoding does not open) is left out: the employee's previous face, or none, is served.
            for face in try FaceRecord.filter(chunk.map { $0.id! }.contains(Column("personID")) && Column("modelID") == FaceEncoding.modelID)
                .filter(sql: "id NOT IN (SELECT faceID FROM quarantinedFaces)").fetchAll(db) {
                faces[face.personID, default: []].append(face)
            }
        }
        return records.map { person in
            let own = faces[person.id!] ?? []
            return Employee(record: person, face: own.max { ($0.registration, $0.id!) < ($1.registration, $1.id!) }, faceCount: own.count)
        }
    }
}

extension FaceRecord {
    /// When the face was registered: the kiosk's time, else when it was stored.
    var registration: Date { registeredAt ?? createdAt }
}
