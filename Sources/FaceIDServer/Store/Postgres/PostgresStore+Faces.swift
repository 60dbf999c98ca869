import Foundation
import Logging
import PostgresNIO

/// Faces and their sealed embeddings on PostgreSQL (with `PostgresStore+Persons.swift`: `PersonRepository`). The feed's
/// rows come from the triggers of migration v2, in the transaction of each change.
extension PostgresStore: PersonRepository {
    static let faceColumns = "id, company_id, person_id, sealed_encoding, model_id, source, reference, created_at, registered_at"

    static func faces(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> [FaceRecord] {
        var found: [FaceRecord] = []
        for try await (id, company, person, sealed, model, source, reference, created, registered)
            in rows.decode((Int64, Int64, Int64, Data, String, String, Bool, Date, Date?).self) {
            found.append(FaceRecord(id: id, companyID: company, personID: person, sealedEncoding: sealed, modelID: model, source: source,
                                    reference: reference, createdAt: created, registeredAt: registered))
        }
        return found
    }

    // MARK: Adding

    func addFaces(_ faces: [Store.NewFace], companyID: Int64, source: String, reference: Bool, keyRing: KeyRing, actor: String,
                  origin: RequestOrigin) async throws -> [FaceRecord] {
        try await transaction(lockingCompany: companyID) { connection in
            try await markApplied(Idempotency.current, companyID: companyID, on: connection)
            return try await insertFaces(faces, companyID: companyID, source: source, reference: reference, keyRing: keyRing, actor: actor,
                                  origin: origin, on: connection)
        }
    }

    func enroll(companyID: Int64, embeddings: [RecognitionModel: [Float]], personID: Int64?, newPerson: PersonRecord?, groups: [String],
                reference: Bool, keyRing: KeyRing, photo: Store.KeptPhoto?, actor: String, origin: RequestOrigin) async throws
        -> (Store.Person, FaceRecord) {
        try await transaction(lockingCompany: companyID) { connection in
            try await markApplied(Idempotency.current, companyID: companyID, on: connection)
            let person: PersonRecord
            if let personID {
                guard let found = try await personRecord(id: personID, companyID: companyID, on: connection) else {
                    throw StoreError.notFound(.person)
                }
                person = found
            } else if let newPerson {
                person = try await insertPerson(newPerson, groups: groups, actor: actor, origin: origin, on: connection).record
            } else {
                throw StoreError.inconsistent("enroll without a person")
            }
            let face = try await insertFaces([Store.NewFace(person: .id(person.id!), embeddings: embeddings)], companyID: companyID,
                                             source: "photo", reference: reference, keyRing: keyRing, actor: actor, origin: origin,
                                             on: connection)[0]
            // Read in the transaction, under the company row's lock: a concurrent `store_images: false` comes before (nothing
            // written) or after (its removal takes this photo too).
            if let photo, let (settings, wrapped) = try await connection.run(
                "SELECT settings, wrapped_key FROM companies WHERE id = \(companyID) FOR SHARE", logger: logger
            ).decode((String, Data).self).elements().first, CompanySettings.decode(settings, fallback: photo.fallback).storeImages {
                // In the store, sealed as the file vault seals it: every node reads it, and it goes with its face.
                let sealed = try await keyRing.loadSealer(companyID: companyID, wrappedKey: wrapped).seal(photo.data, recordID: "image:\(face.id!)")
                _ = try await connection.run("""
                    INSERT INTO face_photos (face_id, company_id, sealed) VALUES (\(face.id!), \(companyID), \(sealed))
                    """, logger: logger)
            }
            return (try await attachGroups([person], on: connection)[0], face)
        }
    }

    /// Adds `faces` with their sealed embeddings and one audit event (`face.create`, or `face.import` naming every face
    /// and person), inside the caller's transaction.
    private func insertFaces(_ faces: [Store.NewFace], companyID: Int64, source: String, reference: Bool, keyRing: KeyRing, actor: String,
                             origin: RequestOrigin, on connection: PostgresConnection) async throws -> [FaceRecord] {
        guard let wrapped = try await connection.run("SELECT wrapped_key FROM companies WHERE id = \(companyID)", logger: logger)
            .decode(Data.self).elements().first else { throw StoreError.notFound(.company) }
        let sealer = try await keyRing.loadSealer(companyID: companyID, wrappedKey: wrapped)
        var resolved: [Store.PersonReference: Int64] = [:]
        var added: [FaceRecord] = []
        let now = Date()
        for face in faces {
            if resolved[face.person] == nil {
                resolved[face.person] = try await resolve(face.person, companyID: companyID, now: now, actor: actor, origin: origin,
                                                          on: connection)
            }
            let personID = resolved[face.person]!
            guard let (primary, vector) = face.embeddings.first else { throw StoreError.inconsistent("a face without an embedding") }
            // The id first: the sealed encoding is bound to it (`face:<id>`), and the row goes in once, sealed.
            let id = try await connection.run("SELECT nextval(pg_get_serial_sequence('faces', 'id'))", logger: logger)
                .decode(Int64.self).elements()[0]
            let sealed = try sealer.seal(FaceEncoding.bytes(vector), recordID: "face:\(id)")
            _ = try await connection.run("""
                INSERT INTO faces (id, company_id, person_id, sealed_encoding, model_id, source, reference, created_at)
                VALUES (\(id), \(companyID), \(personID), \(sealed), \(primary.rawValue), \(source), \(reference), \(now))
                """, logger: logger)
            for (model, vector) in face.embeddings.dropFirst() {
                try await insertEmbedding(faceID: id, companyID: companyID, model: model, vector: vector, sealer: sealer, now: now,
                                          on: connection)
            }
            added.append(FaceRecord(id: id, companyID: companyID, personID: personID, sealedEncoding: sealed, modelID: primary.rawValue,
                                    source: source, reference: reference, createdAt: now))
        }
        let event = AuditEvent.facesAdded(added, companyID: companyID, source: source, actor: actor, origin: origin)
        try await appendAudit(event, companyID: companyID, on: connection, now: now)
        return added
    }

    private func insertEmbedding(faceID: Int64, companyID: Int64, model: RecognitionModel, vector: [Float], sealer: Sealer, now: Date,
                                 on connection: PostgresConnection) async throws {
        let sealed = try sealer.seal(FaceEncoding.bytes(vector), recordID: Store.embeddingRecordID(faceID: faceID, model: model, onRow: false))
        _ = try await connection.run("""
            INSERT INTO face_embeddings (face_id, company_id, model_id, sealed_embedding, created_at)
            VALUES (\(faceID), \(companyID), \(model.rawValue), \(sealed), \(now))
            """, logger: logger)
    }

    /// The person a new face belongs to; a new external id creates the person (audited `person.create`).
    private func resolve(_ reference: Store.PersonReference, companyID: Int64, now: Date, actor: String, origin: RequestOrigin,
                         on connection: PostgresConnection) async throws -> Int64 {
        switch reference {
        case .id(let id):
            guard try await personRecord(id: id, companyID: companyID, on: connection) != nil else { throw StoreError.notFound(.person, id: id) }
            return id
        case .external(let externalID, let fullName):
            if let person = try await Self.persons(try await connection.run("""
                SELECT \(unescaped: Self.personColumns) FROM persons WHERE company_id = \(companyID) AND external_id = \(externalID)
                """, logger: logger)).first {
                // A deleted (resigned) employee keeps their external id and takes no new faces.
                guard person.deletedAt == nil else { throw StoreError.externalIDTaken(personID: person.id!) }
                return person.id!
            }
            let person = PersonRecord(id: nil, companyID: companyID, externalID: externalID, fullName: fullName, tags: "[]", metadata: "{}",
                                      createdAt: now, updatedAt: now)
            return try await insertPerson(person, groups: [], actor: actor, origin: origin, on: connection).record.id!
        }
    }

    func addEmbedding(faceID: Int64, companyID: Int64, model: RecognitionModel, vector: [Float], keyRing: KeyRing) async throws -> Bool {
        try await transaction(lockingCompany: companyID) { connection in
            guard let (modelID, wrapped) = try await connection.run("""
                SELECT f.model_id, c.wrapped_key FROM faces f JOIN companies c ON c.id = f.company_id
                WHERE f.id = \(faceID) AND f.company_id = \(companyID)
                """, logger: logger).decode((String, Data).self).elements().first, modelID != model.rawValue else { return false }
            let present = try await connection.run(
                "SELECT 1 FROM face_embeddings WHERE face_id = \(faceID) AND model_id = \(model.rawValue)", logger: logger
            ).decode(Int32.self).elements()
            guard present.isEmpty else { return false }
            try await insertEmbedding(faceID: faceID, companyID: companyID, model: model, vector: vector,
                                      sealer: try await keyRing.loadSealer(companyID: companyID, wrappedKey: wrapped), now: Date(), on: connection)
            return true
        }
    }

    // MARK: Reading

    func persons(ofFaces faceIDs: [Int64], companyID: Int64) async throws -> [Int64: Store.Person] {
        guard !faceIDs.isEmpty else { return [:] }
        return try await client.withConnection { connection in
            let pairs = try await connection.run(
                "SELECT id, person_id FROM faces WHERE company_id = \(companyID) AND id = ANY(\(faceIDs))", logger: logger
            ).decode((Int64, Int64).self).elements()
            let records = try await Self.persons(try await connection.run("""
                SELECT \(unescaped: Self.personColumns) FROM persons WHERE company_id = \(companyID) AND id = ANY(\(Array(Set(pairs.map(\.1)))))
                """, logger: logger))
            let persons = Dictionary(uniqueKeysWithValues: try await attachGroups(records, on: connection).map { ($0.record.id!, $0) })
            return Dictionary(uniqueKeysWithValues: pairs.compactMap { face, person in persons[person].map { (face, $0) } })
        }
    }

    func faceIDs(inGroup name: String, companyID: Int64) async throws -> Set<UInt64>? {
        guard let groupID = try await fetch("SELECT id FROM groups WHERE company_id = \(companyID) AND name = \(name)", logger: logger)
            .decode(Int64.self).elements().first else { return nil }
        return Set(try await fetch("""
            SELECT f.id FROM faces f JOIN person_groups pg ON pg.person_id = f.person_id WHERE pg.group_id = \(groupID) AND f.company_id = \(companyID)
            """, logger: logger).decode(Int64.self).elements().map { UInt64($0) })
    }

    func face(id: Int64, companyID: Int64) async throws -> FaceRecord? {
        try await Self.faces(try await fetch(
            "SELECT \(unescaped: Self.faceColumns) FROM faces WHERE id = \(id) AND company_id = \(companyID)", logger: logger)).first
    }

    func faces(personID: Int64, companyID: Int64) async throws -> [FaceRecord]? {
        try await client.withConnection { connection in
            guard try await personRecord(id: personID, companyID: companyID, on: connection) != nil else { return nil }
            return try await Self.faces(try await connection.run("""
                SELECT \(unescaped: Self.faceColumns) FROM faces WHERE person_id = \(personID) AND company_id = \(companyID) ORDER BY id
                """, logger: logger))
        }
    }

    func deleteFace(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await transaction(lockingCompany: companyID) { connection in
            try await markApplied(Idempotency.current, companyID: companyID, on: connection)
            guard let person = try await connection.run(
                "DELETE FROM faces WHERE id = \(id) AND company_id = \(companyID) RETURNING person_id", logger: logger
            ).decode(Int64.self).elements().first else { throw StoreError.notFound(.face) }
            _ = try await connection.run("UPDATE persons SET face_deleted_at = now() WHERE id = \(person)", logger: logger)
            try await appendAudit(AuditEvent(action: "face.delete", actor: actor, target: "face:\(id)", detail: ["person": "person:\(person)"],
                                             origin: origin),
                                  companyID: companyID, on: connection, now: Date())
        }
    }

    func existingFaces(_ faceIDs: [Int64], companyID: Int64) async throws -> Set<Int64> {
        guard !faceIDs.isEmpty else { return [] }
        return Set(try await fetch("SELECT id FROM faces WHERE company_id = \(companyID) AND id = ANY(\(faceIDs))", logger: logger)
            .decode(Int64.self).elements())
    }

    // MARK: Embeddings by model

    func facesLacking(_ model: RecognitionModel, companyID: Int64, afterID: Int64, limit: Int) async throws -> [(faceID: Int64, personID: Int64)] {
        try await fetch("""
            SELECT f.id, f.person_id FROM faces f WHERE f.company_id = \(companyID) AND f.id > \(afterID) AND f.model_id <> \(model.rawValue)
            AND NOT EXISTS (SELECT 1 FROM face_embeddings e WHERE e.face_id = f.id AND e.model_id = \(model.rawValue))
            ORDER BY f.id LIMIT \(Int64(limit))
            """, logger: logger).decode((Int64, Int64).self).elements().map { (faceID: $0.0, personID: $0.1) }
    }

    func personsLacking(_ model: RecognitionModel, companyID: Int64, limit: Int) async throws -> (count: Int, persons: [(PersonRecord, Int)]) {
        try await client.withConnection { connection in
            // The count and the first `limit` persons, each in the database: a million-face company's list never crosses.
            let count = try await connection.run("""
                SELECT count(DISTINCT f.person_id) FROM faces f WHERE f.company_id = \(companyID) AND f.model_id <> \(model.rawValue)
                AND NOT EXISTS (SELECT 1 FROM face_embeddings e WHERE e.face_id = f.id AND e.model_id = \(model.rawValue))
                """, logger: logger).decode(Int64.self).elements().first ?? 0
            let shown = try await connection.run("""
                SELECT f.person_id, count(*) FROM faces f WHERE f.company_id = \(companyID) AND f.model_id <> \(model.rawValue)
                AND NOT EXISTS (SELECT 1 FROM face_embeddings e WHERE e.face_id = f.id AND e.model_id = \(model.rawValue))
                GROUP BY f.person_id ORDER BY f.person_id LIMIT \(Int64(limit))
                """, logger: logger).decode((Int64, Int64).self).elements()
            let records = Dictionary(uniqueKeysWithValues: try await Self.persons(try await connection.run("""
                SELECT \(unescaped: Self.personColumns) FROM persons WHERE company_id = \(companyID) AND id = ANY(\(shown.map(\.0)))
                """, logger: logger)).map { ($0.id!, $0) })
            return (Int(count), shown.compactMap { person, faces in records[person].map { ($0, Int(faces)) } })
        }
    }

    func hasFaces(onlyOf model: RecognitionModel, companyID: Int64) async throws -> Bool {
        try await !fetch("SELECT 1 FROM faces WHERE company_id = \(companyID) AND model_id = \(model.rawValue) LIMIT 1", logger: logger)
            .decode(Int32.self).elements().isEmpty
    }

    func rowModels(ofFaces faceIDs: [Int64], companyID: Int64) async throws -> [Int64: String] {
        guard !faceIDs.isEmpty else { return [:] }
        return Dictionary(uniqueKeysWithValues: try await fetch(
            "SELECT id, model_id FROM faces WHERE company_id = \(companyID) AND id = ANY(\(faceIDs))", logger: logger
        ).decode((Int64, String).self).elements())
    }

    func embeddingCounts(companyID: Int64) async throws -> (faces: Int, with: [RecognitionModel: Int]) {
        let total = try await fetch("SELECT count(*) FROM faces WHERE company_id = \(companyID)", logger: logger)
            .decode(Int64.self).elements().first ?? 0
        var with: [RecognitionModel: Int] = [:]
        for model in RecognitionModel.allCases {
            let onRow = try await fetch("SELECT count(*) FROM faces WHERE company_id = \(companyID) AND model_id = \(model.rawValue)",
                                               logger: logger).decode(Int64.self).elements().first ?? 0
            let extra = try await fetch("""
                SELECT count(*) FROM face_embeddings WHERE company_id = \(companyID) AND model_id = \(model.rawValue)
                """, logger: logger).decode(Int64.self).elements().first ?? 0
            with[model] = Int(onRow + extra)
        }
        return (Int(total), with)
    }

    // MARK: Quarantine

    func quarantine(faceID: Int64, companyID: Int64, reason: String) async throws -> Bool {
        try await transaction(lockingCompany: companyID) { connection in
            guard let person = try await connection.run(
                "SELECT person_id FROM faces WHERE id = \(faceID) AND company_id = \(companyID)", logger: logger
            ).decode(Int64.self).elements().first else { return false }
            let inserted = try await connection.run("""
                INSERT INTO quarantined_faces (face_id, company_id, reason, at) VALUES (\(faceID), \(companyID), \(reason), now())
                ON CONFLICT (face_id) DO NOTHING RETURNING face_id
                """, logger: logger).decode(Int64.self).elements()
            guard !inserted.isEmpty else { return false }
            try await appendAudit(AuditEvent(action: "face.quarantine", actor: "system", target: "face:\(faceID)",
                                             detail: ["person": "person:\(person)", "reason": reason], origin: .unknown),
                                  companyID: companyID, on: connection, now: Date())
            return true
        }
    }

    func quarantinedFaceCount() async throws -> Int {
        Int(try await fetch("SELECT count(*) FROM quarantined_faces", logger: logger).decode(Int64.self).elements().first ?? 0)
    }
}
