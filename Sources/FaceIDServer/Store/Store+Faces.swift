import Foundation
import GRDB

/// Faces. Every face insert and delete (and every embedding added) appends to the feed `changes` in the same
/// transaction — SQLite triggers do it — so the index, kiosks and replicas can follow the store exactly.
extension Store {
    enum FaceOperation: String, Sendable {
        /// `model`: not a face but a published index model (`IndexModelRepository`), which the index installs in order.
        case upsert, delete, model
    }

    /// One feed entry; `embeddings` are the face's current sealed embeddings, one per model, for an upsert whose face
    /// still exists (empty otherwise).
    struct FaceChange: Sendable {
        var seq: Int64
        var faceID: Int64
        var personID: Int64
        var operation: FaceOperation
        var embeddings: [SealedEmbedding] = []
        /// A `model` row's published model.
        var model: PublishedModel?
    }

    /// An IVF-PQ model one node trained for one of a company's collections and published through the feed, sealed with the
    /// company key under `recordID(space:)`.
    struct PublishedModel: Sendable {
        var seq: Int64
        /// `IndexSpace.label`.
        var space: String
        var sealed: Data

        /// The record a published model is sealed under: the associated data names the collection.
        static func recordID(space: String) -> String { "index-model/" + space }
    }

    /// One stored embedding of a face, sealed with the company key under `recordID`.
    struct SealedEmbedding: Sendable {
        var model: RecognitionModel
        var sealed: Data
        var recordID: String
    }

    /// The sealing record id of a face's embedding: `face:<id>` for the one on the face's row (as before SFace),
    /// `face:<id>/<model>` for the others.
    static func embeddingRecordID(faceID: Int64, model: RecognitionModel, onRow: Bool) -> String {
        onRow ? "face:\(faceID)" : "face:\(faceID)/\(model.rawValue)"
    }

    /// Whose face: a person of the company by id, or by external id (created with `fullName` when new).
    enum PersonReference: Sendable, Hashable {
        case id(Int64)
        case external(String, fullName: String)
    }

    /// A face to add: its person and its embeddings (already validated: 128 finite floats each). The first is kept on the
    /// face's row (`modelID`, `sealedEncoding`: dlib when there is one, the kiosks' model), the others in `faceEmbeddings`.
    struct NewFace: Sendable {
        var person: PersonReference
        var embeddings: [(model: RecognitionModel, vector: [Float])]

        init(person: PersonReference, encoding: [Float], model: RecognitionModel = .dlib) {
            self.person = person
            embeddings = [(model, encoding)]
        }

        init(person: PersonReference, embeddings: [RecognitionModel: [Float]]) {
            self.person = person
            self.embeddings = RecognitionModel.allCases.compactMap { model in embeddings[model].map { (model, $0) } }
        }
    }

    /// Adds `faces` — sealing each encoding with the company key under its record id — with their feed rows
    /// and one audit event, in one transaction. A person of another company is a 404.
    func addFaces(
        _ faces: [NewFace], companyID: Int64, source: String, reference: Bool, keyRing: KeyRing, actor: String, origin: RequestOrigin
    ) async throws -> [FaceRecord] {
        let mark = Idempotency.current
        return try await pool.write { db in
            try Self.markApplied(mark, companyID: companyID, db: db)
            return try Self.insertFaces(faces, companyID: companyID, source: source, reference: reference, keyRing: keyRing,
                                        actor: actor, origin: origin, db: db)
        }
    }

    /// The enrollment photo, kept when the company's `store_images` is on at commit time.
    struct KeptPhoto: Sendable {
        var data: Data
        /// Where SQLite's enrollment writes it (PostgreSQL keeps it in its own table).
        var vault: ImageVault?
        /// The settings of a company whose row has none stored.
        var fallback: CompanySettings
    }

    /// Enrolls one face for an existing person (`personID`) or a new one (`newPerson` with `groups`): person,
    /// face, feed row, audit events — and the sealed photo, when the company keeps them — in one transaction, so a
    /// failure leaves nothing behind (a photo written before a failed commit is swept at the next start).
    func enroll(
        companyID: Int64, embeddings: [RecognitionModel: [Float]], personID: Int64?, newPerson: PersonRecord?, groups: [String], reference: Bool, keyRing: KeyRing,
        photo: KeptPhoto?, actor: String, origin: RequestOrigin
    ) async throws -> (Person, FaceRecord) {
        let mark = Idempotency.current
        return try await pool.write { db in
            try Self.markApplied(mark, companyID: companyID, db: db)
            let person: PersonRecord
            if let personID {
                guard let found = try Self.personRecord(id: personID, companyID: companyID, db: db) else {
                    throw StoreError.notFound(.person)
                }
                person = found
            } else if let newPerson {
                person = try Self.insertPerson(newPerson, groups: groups, actor: actor, origin: origin, db: db).record
            } else {
                throw StoreError.inconsistent("enroll without a person")
            }
            let face = try Self.insertFaces(
                [NewFace(person: .id(person.id!), embeddings: embeddings)], companyID: companyID, source: "photo", reference: reference,
                keyRing: keyRing, actor: actor, origin: origin, db: db)[0]
            // Read inside the transaction: a concurrent `store_images: false` either precedes this (nothing written)
            // or follows it (and its removal takes this photo too).
            if let photo, let company = try CompanyRecord.fetchOne(db, key: companyID),
               CompanySettings.decode(company.settings, fallback: photo.fallback).storeImages {
                try photo.vault?.write(photo.data, companyID: companyID, faceID: face.id!,
                                      sealer: try keyRing.sealer(companyID: companyID, wrappedKey: company.wrappedKey))
            }
            return (try Self.attachGroups([person], db: db)[0], face)
        }
    }

    static func insertFaces(
        _ faces: [NewFace], companyID: Int64, source: String, reference: Bool, keyRing: KeyRing, actor: String,
        origin: RequestOrigin, db: Database
    ) throws -> [FaceRecord] {
        guard let company = try CompanyRecord.fetchOne(db, key: companyID) else { throw StoreError.notFound(.company) }
        let sealer = try keyRing.sealer(companyID: companyID, wrappedKey: company.wrappedKey)
        var resolved: [PersonReference: Int64] = [:]
        var added: [FaceRecord] = []
        let now = Date()
        for face in faces {
            // Each person once per transaction (an import names many faces of one person).
            if resolved[face.person] == nil {
                resolved[face.person] = try resolve(face.person, companyID: companyID, now: now, actor: actor, origin: origin, db: db)
            }
            let personID = resolved[face.person]!
            guard let (primary, vector) = face.embeddings.first else { throw StoreError.inconsistent("a face without an embedding") }
            var record = FaceRecord(id: nil, companyID: companyID, personID: personID, sealedEncoding: Data(),
                                    modelID: primary.rawValue, source: source, reference: reference, createdAt: now)
            try record.insert(db)
            record.sealedEncoding = try sealer.seal(FaceEncoding.bytes(vector), recordID: "face:\(record.id!)")
            try record.update(db)
            for (model, vector) in face.embeddings.dropFirst() {
                try insertEmbedding(faceID: record.id!, companyID: companyID, model: model, vector: vector, sealer: sealer, now: now, db: db)
            }
            added.append(record)
        }
        let event = AuditEvent.facesAdded(added, companyID: companyID, source: source, actor: actor, origin: origin)
        try AuditLog.append(event, companyID: companyID, db: db)
        return added
    }

    static func insertEmbedding(faceID: Int64, companyID: Int64, model: RecognitionModel, vector: [Float], sealer: Sealer,
                                now: Date, db: Database) throws {
        let sealed = try sealer.seal(FaceEncoding.bytes(vector), recordID: embeddingRecordID(faceID: faceID, model: model, onRow: false))
        try db.execute(sql: """
            INSERT INTO faceEmbeddings (faceID, companyID, modelID, sealedEmbedding, createdAt) VALUES (?, ?, ?, ?, ?)
            """, arguments: [faceID, companyID, model.rawValue, sealed, now])
    }

    /// Adds `model`'s embedding to a face that has none of it (a model switch re-embedding a stored photo), with its
    /// feed row, so the index adds it to that model's collection. False when the face is gone or already has one.
    func addEmbedding(faceID: Int64, companyID: Int64, model: RecognitionModel, vector: [Float], keyRing: KeyRing) async throws -> Bool {
        try await pool.write { db in
            guard let face = try FaceRecord.owned(faceID, companyID: companyID, db: db),
                  face.modelID != model.rawValue,
                  try Int.fetchOne(db, sql: "SELECT 1 FROM faceEmbeddings WHERE faceID = ? AND modelID = ?",
                                   arguments: [faceID, model.rawValue]) == nil,
                  let company = try CompanyRecord.fetchOne(db, key: companyID) else { return false }
            let now = Date()
            try Self.insertEmbedding(faceID: faceID, companyID: companyID, model: model, vector: vector,
                                     sealer: try keyRing.sealer(companyID: companyID, wrappedKey: company.wrappedKey), now: now, db: db)
            return true
        }
    }

    /// The person of each face id of the company (faces deleted meanwhile are absent). Here and wherever faces are found
    /// by id or by person, the unary `+` on `companyID` keeps SQLite from choosing `faces_company_model` instead and walking
    /// every face of a million-face company (`PersonRecord.byIDs` has the same guard).
    func persons(ofFaces faceIDs: [Int64], companyID: Int64) async throws -> [Int64: Person] {
        guard !faceIDs.isEmpty else { return [:] }
        return try await pool.read { db in
            let placeholders = Array(repeating: "?", count: faceIDs.count).joined(separator: ",")
            let pairs = try Row.fetchAll(db, sql: "SELECT id, personID FROM faces WHERE +companyID = ? AND id IN (\(placeholders))",
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
                SELECT f.id FROM faces f JOIN personGroups pg ON pg.personID = f.personID WHERE pg.groupID = ? AND +f.companyID = ?
                """, arguments: [groupID, companyID]).map { UInt64($0) })
        }
    }

    /// The person a new face belongs to; a new external id creates the person (audited `person.create`, like any other).
    static func resolve(_ reference: PersonReference, companyID: Int64, now: Date, actor: String, origin: RequestOrigin,
                        db: Database) throws -> Int64 {
        switch reference {
        case .id(let id):
            guard try personRecord(id: id, companyID: companyID, db: db) != nil else { throw StoreError.notFound(.person, id: id) }
            return id
        case .external(let externalID, let fullName):
            if let person = try PersonRecord.filter(Column("companyID") == companyID && Column("externalID") == externalID).fetchOne(db) {
                // A deleted (resigned) employee keeps their external id and takes no new faces.
                guard person.deletedAt == nil else { throw StoreError.externalIDTaken(personID: person.id!) }
                return person.id!
            }
            let person = PersonRecord(id: nil, companyID: companyID, externalID: externalID, fullName: fullName,
                                      tags: "[]", metadata: "{}", createdAt: now, updatedAt: now)
            return try insertPerson(person, groups: [], actor: actor, origin: origin, db: db).record.id!
        }
    }

    func face(id: Int64, companyID: Int64) async throws -> FaceRecord? {
        try await pool.read { db in try FaceRecord.owned(id, companyID: companyID, db: db) }
    }

    func faces(personID: Int64, companyID: Int64) async throws -> [FaceRecord]? {
        try await pool.read { db in
            guard try Self.personRecord(id: personID, companyID: companyID, db: db) != nil else { return nil }
            return try FaceRecord.filter(Column("personID") == personID && Column("companyID") == companyID).order(Column("id")).fetchAll(db)
        }
    }

    func deleteFace(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        let mark = Idempotency.current
        try await pool.write { db in
            try Self.markApplied(mark, companyID: companyID, db: db)
            guard let face = try FaceRecord.owned(id, companyID: companyID, db: db) else {
                throw StoreError.notFound(.face)
            }
            try Self.removeFaces([face], db: db)
            try db.execute(sql: "UPDATE persons SET faceDeletedAt = ? WHERE id = ?", arguments: [Date(), face.personID])
            try AuditLog.append(
                AuditEvent(action: "face.delete", actor: actor, target: "face:\(id)", detail: ["person": "person:\(face.personID)"],
                           origin: origin),
                companyID: companyID, db: db)
        }
    }

    /// Deletes faces inside the caller's transaction (the feed's delete rows come from the trigger).
    static func removeFaces(_ faces: [FaceRecord], db: Database) throws {
        for face in faces {
            _ = try FaceRecord.deleteOne(db, key: face.id)
        }
    }

    func wrappedKey(companyID: Int64) async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT wrappedKey FROM companies WHERE id = ?", arguments: [companyID]) }
    }
}

extension Store {
    /// Which of `faceIDs` the company still has.
    func existingFaces(_ faceIDs: [Int64], companyID: Int64) async throws -> Set<Int64> {
        guard !faceIDs.isEmpty else { return [] }
        return try await pool.read { db in
            var present = Set<Int64>()
            for chunk in stride(from: 0, to: faceIDs.count, by: 500).map({ faceIDs[$0..<min($0 + 500, faceIDs.count)] }) {
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                present.formUnion(try Int64.fetchAll(
                    db, sql: "SELECT id FROM faces WHERE +companyID = ? AND id IN (\(placeholders))",
                    arguments: StatementArguments([companyID] + Array(chunk))))
            }
            return present
        }
    }
}
