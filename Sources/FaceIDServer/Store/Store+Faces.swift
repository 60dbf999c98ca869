import Foundation
import GRDB

/// Faces and the change feed. Every face insert and delete appends to `faceChanges` in the same
/// transaction, so the index (and, later, kiosks and replicas) can follow the store exactly.
extension Store {
    enum FaceOperation: String, Sendable {
        case upsert, delete
    }

    /// One feed entry; `sealedEncoding` is the face's current encoding for an upsert whose face still exists.
    struct FaceChange: Sendable {
        var seq: Int64
        var faceID: Int64
        var personID: Int64
        var operation: FaceOperation
        var sealedEncoding: Data?
    }

    /// Whose face: a person of the company by id, or by external id (created with `fullName` when new).
    enum PersonReference: Sendable, Hashable {
        case id(Int64)
        case external(String, fullName: String)
    }

    /// A face to add: its person and its encoding (already validated: 128 finite floats).
    struct NewFace: Sendable {
        var person: PersonReference
        var encoding: [Float]
    }

    /// Adds `faces` — sealing each encoding with the company key under its record id — with their feed rows
    /// and one audit event, in one transaction. A person of another company is a 404.
    func addFaces(
        _ faces: [NewFace], companyID: Int64, source: String, reference: Bool, keyRing: KeyRing, actor: String, origin: RequestOrigin
    ) async throws -> [FaceRecord] {
        try await pool.write { db in
            try Self.insertFaces(faces, companyID: companyID, source: source, reference: reference, keyRing: keyRing,
                                 actor: actor, origin: origin, db: db)
        }
    }

    /// The enrollment photo, kept when the company's `store_images` is on at commit time.
    struct KeptPhoto: Sendable {
        var data: Data
        var vault: ImageVault
        /// The settings of a company whose row has none stored.
        var fallback: CompanySettings
    }

    /// Enrolls one face for an existing person (`personID`) or a new one (`newPerson` with `groups`): person,
    /// face, feed row, audit events — and the sealed photo, when the company keeps them — in one transaction, so a
    /// failure leaves nothing behind (a photo written before a failed commit is swept at the next start).
    func enroll(
        companyID: Int64, encoding: [Float], personID: Int64?, newPerson: PersonRecord?, groups: [String], reference: Bool, keyRing: KeyRing,
        photo: KeptPhoto?, actor: String, origin: RequestOrigin
    ) async throws -> (Person, FaceRecord) {
        try await pool.write { db in
            let person: PersonRecord
            if let personID {
                guard let found = try Self.personRecord(id: personID, companyID: companyID, db: db) else {
                    throw APIError.notFound("Person")
                }
                person = found
            } else if let newPerson {
                person = try Self.insertPerson(newPerson, groups: groups, actor: actor, origin: origin, db: db).record
            } else {
                throw APIError.missingField("person_id")
            }
            let face = try Self.insertFaces(
                [NewFace(person: .id(person.id!), encoding: encoding)], companyID: companyID, source: "photo", reference: reference,
                keyRing: keyRing, actor: actor, origin: origin, db: db)[0]
            // Read inside the transaction: a concurrent `store_images: false` either precedes this (nothing written)
            // or follows it (and its removal takes this photo too).
            if let photo, let company = try CompanyRecord.fetchOne(db, key: companyID),
               CompanySettings.decode(company.settings, fallback: photo.fallback).storeImages {
                try photo.vault.write(photo.data, companyID: companyID, faceID: face.id!,
                                      sealer: try keyRing.sealer(companyID: companyID, wrappedKey: company.wrappedKey))
            }
            return (try Self.attachGroups([person], db: db)[0], face)
        }
    }

    static func insertFaces(
        _ faces: [NewFace], companyID: Int64, source: String, reference: Bool, keyRing: KeyRing, actor: String,
        origin: RequestOrigin, db: Database
    ) throws -> [FaceRecord] {
        guard let company = try CompanyRecord.fetchOne(db, key: companyID) else { throw APIError.notFound("Company") }
        let sealer = try keyRing.sealer(companyID: companyID, wrappedKey: company.wrappedKey)
        var resolved: [PersonReference: Int64] = [:]
        var added: [FaceRecord] = []
        let now = Date()
        for face in faces {
            let personID: Int64
            if let known = resolved[face.person] {
                personID = known
            } else {
                personID = try resolve(face.person, companyID: companyID, now: now, actor: actor, origin: origin, db: db)
                resolved[face.person] = personID
            }
            var record = FaceRecord(id: nil, companyID: companyID, personID: personID, sealedEncoding: Data(),
                                    modelID: FaceEncoding.modelID, source: source, reference: reference, createdAt: now)
            try record.insert(db)
            record.sealedEncoding = try sealer.seal(FaceEncoding.bytes(face.encoding), recordID: "face:\(record.id!)")
            try record.update(db)
            try appendChange(.upsert, face: record, db: db, now: now)
            added.append(record)
        }
        // One face: its own event. A bulk import: one event naming every face and person it touched.
        let event = added.count == 1
            ? AuditEvent(action: "face.create", actor: actor, target: "face:\(added[0].id!)",
                         detail: ["person": "person:\(added[0].personID)", "source": source], origin: origin)
            : AuditEvent(action: "face.import", actor: actor, target: "company:\(companyID)",
                         detail: ["count": String(added.count), "faces": AuditLog.idList(added.map { $0.id! }),
                                  "persons": AuditLog.idList(Array(Set(added.map(\.personID)))), "source": source],
                         origin: origin)
        try AuditLog.append(event, companyID: companyID, db: db)
        return added
    }

    /// The person of each face id of the company (faces deleted meanwhile are absent).
    func persons(ofFaces faceIDs: [Int64], companyID: Int64) async throws -> [Int64: Person] {
        guard !faceIDs.isEmpty else { return [:] }
        return try await pool.read { db in
            let placeholders = Array(repeating: "?", count: faceIDs.count).joined(separator: ",")
            let pairs = try Row.fetchAll(db, sql: "SELECT id, personID FROM faces WHERE companyID = ? AND id IN (\(placeholders))",
                                         arguments: StatementArguments([companyID] + faceIDs)).map { (row: Row) -> (Int64, Int64) in
                (row["id"], row["personID"])
            }
            let personIDs = Array(Set(pairs.map(\.1)))
            let records = try PersonRecord.byIDs(personIDs, companyID: companyID).fetchAll(db)
            let persons = Dictionary(uniqueKeysWithValues: try Self.attachGroups(records, db: db).map { ($0.record.id!, $0) })
            return Dictionary(uniqueKeysWithValues: pairs.compactMap { face, person in persons[person].map { (face, $0) } })
        }
    }

    /// The ids of every face whose person is in the named group; nil when the company has no such group.
    func faceIDs(inGroup name: String, companyID: Int64) async throws -> Set<UInt64>? {
        try await pool.read { db in
            guard let groupID = try Int64.fetchOne(db, sql: #"SELECT id FROM "groups" WHERE companyID = ? AND name = ?"#,
                                                   arguments: [companyID, name]) else { return nil }
            return Set(try Int64.fetchAll(db, sql: """
                SELECT f.id FROM faces f JOIN personGroups pg ON pg.personID = f.personID WHERE pg.groupID = ? AND f.companyID = ?
                """, arguments: [groupID, companyID]).map { UInt64($0) })
        }
    }

    /// The person a new face belongs to; a new external id creates the person (audited `person.create`, like any other).
    static func resolve(_ reference: PersonReference, companyID: Int64, now: Date, actor: String, origin: RequestOrigin,
                        db: Database) throws -> Int64 {
        switch reference {
        case .id(let id):
            guard try personRecord(id: id, companyID: companyID, db: db) != nil else { throw APIError.notFound("Person \(id)") }
            return id
        case .external(let externalID, let fullName):
            if let person = try PersonRecord.filter(Column("companyID") == companyID && Column("externalID") == externalID).fetchOne(db) {
                // A deleted (resigned) employee keeps their external id and takes no new faces.
                guard person.deletedAt == nil else { throw APIError.externalIDTaken(personID: person.id!) }
                return person.id!
            }
            let person = PersonRecord(id: nil, companyID: companyID, externalID: externalID, fullName: fullName,
                                      tags: "[]", metadata: "{}", createdAt: now, updatedAt: now)
            return try insertPerson(person, groups: [], actor: actor, origin: origin, db: db).record.id!
        }
    }

    func face(id: Int64, companyID: Int64) async throws -> FaceRecord? {
        try await pool.read { db in try FaceRecord.filter(Column("id") == id && Column("companyID") == companyID).fetchOne(db) }
    }

    func faces(personID: Int64, companyID: Int64) async throws -> [FaceRecord]? {
        try await pool.read { db in
            guard try Self.personRecord(id: personID, companyID: companyID, db: db) != nil else { return nil }
            return try FaceRecord.filter(Column("personID") == personID && Column("companyID") == companyID).order(Column("id")).fetchAll(db)
        }
    }

    func deleteFace(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await pool.write { db in
            guard let face = try FaceRecord.filter(Column("id") == id && Column("companyID") == companyID).fetchOne(db) else {
                throw APIError.notFound("Face")
            }
            try Self.removeFaces([face], db: db)
            try db.execute(sql: "UPDATE persons SET faceDeletedAt = ? WHERE id = ?", arguments: [Date(), face.personID])
            try AuditLog.append(
                AuditEvent(action: "face.delete", actor: actor, target: "face:\(id)", detail: ["person": "person:\(face.personID)"],
                           origin: origin),
                companyID: companyID, db: db)
        }
    }

    /// Deletes faces and appends their delete changes (inside the caller's transaction).
    static func removeFaces(_ faces: [FaceRecord], db: Database) throws {
        let now = Date()
        for face in faces {
            _ = try FaceRecord.deleteOne(db, key: face.id)
            try appendChange(.delete, face: face, db: db, now: now)
        }
    }

    static func appendChange(_ operation: FaceOperation, face: FaceRecord, db: Database, now: Date) throws {
        try db.execute(
            sql: "INSERT INTO faceChanges (companyID, faceID, personID, op, atMicros) VALUES (?, ?, ?, ?, ?)",
            arguments: [face.companyID, face.id, face.personID, operation.rawValue, Int64(now.timeIntervalSince1970 * 1e6)])
    }

    /// The company's feed after `seq`, oldest first, at most `limit` entries.
    func faceChanges(companyID: Int64, after seq: Int64, limit: Int) async throws -> [FaceChange] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.seq, c.faceID, c.personID, c.op, f.sealedEncoding FROM faceChanges c
                LEFT JOIN faces f ON f.id = c.faceID AND c.op = 'upsert'
                WHERE c.companyID = ? AND c.seq > ? ORDER BY c.seq LIMIT ?
                """, arguments: [companyID, seq, limit]
            ).map { row in
                FaceChange(seq: row["seq"], faceID: row["faceID"], personID: row["personID"],
                           operation: FaceOperation(rawValue: row["op"]) ?? .delete, sealedEncoding: row["sealedEncoding"])
            }
        }
    }

    /// The company's last face feed sequence number (0 before any change).
    func lastFaceChange(companyID: Int64) async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM faceChanges WHERE companyID = ?", arguments: [companyID]) ?? 0
        }
    }

    /// Every company that has a feed, and its wrapped data key.
    func companiesWithFaces() async throws -> [(Int64, Data)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, wrappedKey FROM companies WHERE id IN (SELECT DISTINCT companyID FROM faceChanges) ORDER BY id
                """).map { ($0["id"], $0["wrappedKey"]) }
        }
    }

    func wrappedKey(companyID: Int64) async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT wrappedKey FROM companies WHERE id = ?", arguments: [companyID]) }
    }
}

/// The 128-d dlib face encoding as it is validated, stored and sealed.
enum FaceEncoding {
    static let dimension = 128
    static let modelID = "dlib-resnet-v1"

    /// 400 `invalid_field` unless exactly 128 finite numbers.
    static func validate(_ values: [Double], field: String) throws(APIError) -> [Float] {
        guard values.count == dimension else { throw .invalidField(field, "expected exactly \(dimension) numbers, got \(values.count)") }
        guard values.allSatisfy({ $0.isFinite && abs($0) < 1e6 }) else { throw .invalidField(field, "every number must be finite") }
        return values.map { Float($0) }
    }

    /// float32 little-endian (photo enrollments and imports: what the index holds).
    static func bytes(_ encoding: [Float]) -> Data {
        var data = Data(capacity: encoding.count * 4)
        for value in encoding { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// float64 little-endian: a kiosk's encoding kept exactly as the kiosk sent it (`face_recognition` computes float64).
    static func bytes(_ encoding: [Double]) -> Data {
        var data = Data(capacity: encoding.count * 8)
        for value in encoding { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// The stored values, from either layout (128 float32 or 128 float64), exactly; nil for any other length.
    static func doubles(_ data: Data) -> [Double]? {
        data.withUnsafeBytes { raw -> [Double]? in
            switch raw.count {
            case dimension * 4:
                (0..<dimension).map { Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))) }
            case dimension * 8:
                (0..<dimension).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
            default:
                nil
            }
        }
    }

    /// The stored values as float32, what the index and the distance kernels use.
    static func floats(_ data: Data) -> [Float]? {
        doubles(data).map { $0.map(Float.init) }
    }
}
