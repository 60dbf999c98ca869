import Foundation
import Testing

@testable import FaceIDServer

@Suite("Faces, the change feed and the index")
struct FacesTests {
    /// A deterministic encoding near `center` (dlib encodings have norms near 1; the values only need to be distinct).
    static func encoding(_ seed: Int, jitter: Double = 0) -> [Double] {
        (0..<128).map { index in sin(Double(seed * 131 + index) * 0.7) * 0.09 + jitter * cos(Double(index + seed)) }
    }

    static func importBody(_ items: [[String: Any]]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: items), as: UTF8.self)
    }

    @Test func importSearchDeleteThroughTheFeed() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let person = try await client.call(.post, "/persons", as: owner.caller, json: JSON(["full_name": "Existing"]))
            let existingID = try #require((person.object("person")["id"] as? NSNumber)?.int64Value)
            let imported = try await client.call(.post, "/faces/import", as: owner.caller, json: Self.importBody([
                ["external_id": "E-1", "full_name": "Ada", "encoding": Self.encoding(1)],
                ["external_id": "E-1", "encoding": Self.encoding(1, jitter: 0.01)],
                ["external_id": "E-2", "encoding": Self.encoding(2)],
                ["person_id": existingID, "encoding": Self.encoding(3)],
            ]))
            #expect(imported.status == .created, "\(imported.text)")
            #expect(imported["imported"] as? Int == 4)
            let faceIDs = try #require((imported["face_ids"] as? [NSNumber])?.map(\.int64Value))
            let personIDs = try #require((imported["person_ids"] as? [NSNumber])?.map(\.int64Value))
            #expect(personIDs[0] == personIDs[1] && personIDs[0] != personIDs[2] && personIDs[3] == existingID)
            // Every person and face the import created is in the audit trail: a person.create each, one face.import
            // naming every face and person.
            let importAudit = try #require(try await client.call(.get, "/audit", as: owner.caller)["events"] as? [[String: Any]])
            let created = importAudit.filter { $0["action"] as? String == "person.create" }.compactMap { $0["target"] as? String }
            #expect(Set(created) == ["person:\(existingID)", "person:\(personIDs[0])", "person:\(personIDs[2])"])
            let importEvent = try #require(importAudit.first { $0["action"] as? String == "face.import" }?["detail"] as? [String: Any])
            #expect(importEvent["faces"] as? String == "\(faceIDs[0])-\(faceIDs[3])" && importEvent["count"] as? String == "4")
            #expect(importEvent["persons"] as? String == AuditLog.idList([existingID, personIDs[0], personIDs[2]]))
            #expect(AuditLog.idList([9, 3, 4, 5, 7, 8, 12]) == "3-5,7-9,12" && AuditLog.idList([]) == "")
            let ada = try await client.call(.get, "/persons/\(personIDs[0])", as: owner.caller)
            #expect(ada.object("person")["full_name"] as? String == "Ada")
            #expect(ada.object("person")["external_id"] as? String == "E-1")
            let e2 = try await client.call(.get, "/persons/\(personIDs[2])", as: owner.caller)
            #expect(e2.object("person")["full_name"] as? String == "E-2")

            let faces = try await client.call(.get, "/persons/\(personIDs[0])/faces", as: owner.caller)
            #expect((faces["faces"] as? [[String: Any]])?.compactMap { ($0["id"] as? NSNumber)?.int64Value } == Array(faceIDs[0...1]))
            let face = try await client.call(.get, "/faces/\(faceIDs[2])", as: owner.caller)
            #expect(face.object("face")["model_id"] as? String == "dlib-resnet-v1")
            #expect(face.object("face")["source"] as? String == "import")
            #expect(!face.text.contains("encoding"))
            // The encoding only on request, and only to the desktop app (X-App-Secret) or an admin API key (migration):
            // no web session reads raw encodings, not even the owner's.
            let path = "/faces/\(faceIDs[2])?include_encoding=true"
            let desktop = TestServer.kioskHeaders()
            expectError(try await client.call(.get, path, as: owner.caller), .forbidden, "encodings_desktop_app_only")
            let kiosk = try await client.apiKey([.kiosk], in: owner)
            expectError(try await client.call(.get, path, as: .apiKey(kiosk.key)), .forbidden, "encodings_desktop_app_only")
            expectError(try await client.call(.get, path, as: .apiKey(kiosk.key), headers: TestServer.kioskHeaders(secret: "wrong")),
                        .forbidden, "encodings_desktop_app_only")
            let withEncoding = try await client.call(.get, path, as: .apiKey(kiosk.key), headers: desktop)
            struct FaceEncodingReply: Decodable { struct Face: Decodable { var encoding: [Double] }; var face: Face }
            let numbers = try JSONDecoder().decode(FaceEncodingReply.self, from: withEncoding.data).face.encoding
            #expect(numbers == Self.encoding(2).map { Double(Float($0)) })  // imports are float32, returned exactly
            #expect(try await client.call(.get, path, as: owner.caller, headers: desktop).status == .ok)  // the desktop app's login
            let admin = try await client.apiKey([.admin], in: owner)
            #expect(try await client.call(.get, path, as: .apiKey(admin.key)).status == .ok)
            let recognizer = try await client.apiKey([.recognize], in: owner)
            expectError(try await client.call(.get, path, as: .apiKey(recognizer.key), headers: desktop), .forbidden, "forbidden")
            let viewer = try await client.user(.viewer, in: owner)
            expectError(try await client.call(.get, path, as: .token(viewer.token), headers: desktop), .forbidden, "forbidden")
            // Every read of an encoding is audited.
            let reads = try #require(try await client.call(.get, "/audit?action=face.encoding_read", as: owner.caller)["events"] as? [[String: Any]])
            #expect(reads.count == 3 && reads.allSatisfy { $0["target"] as? String == "face:\(faceIDs[2])" })
            expectError(try await client.call(.get, "/faces/\(faceIDs[2])?include_encoding=yes", as: owner.caller),
                        .badRequest, "invalid_query")

            // Searchable as soon as the 201 arrived.
            let index = server.services.index
            func nearest(_ seed: Int) throws -> Int64? {
                try index.search(owner.companyID, encoding: Self.encoding(seed).map(Float.init), k: 1).first.map { Int64($0.id) }
            }
            #expect(try nearest(2) == faceIDs[2])
            #expect(try nearest(3) == faceIDs[3])
            #expect(try index.collection(owner.companyID).count == 4)

            #expect(try await client.call(.delete, "/faces/\(faceIDs[2])", as: owner.caller).status == .noContent)
            #expect(try nearest(2) != faceIDs[2])
            expectError(try await client.call(.get, "/faces/\(faceIDs[2])", as: owner.caller), .notFound, "not_found")
            // Deleting a person takes their faces out of the index.
            #expect(try await client.call(.delete, "/persons/\(personIDs[0])", as: owner.caller).status == .ok)
            #expect(try index.collection(owner.companyID).count == 1)
            #expect(try !index.collection(owner.companyID).contains(UInt64(faceIDs[0])))

            let audit = try await client.call(.get, "/audit", as: owner.caller)
            let actions = (audit["events"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(actions.contains("face.import") && actions.contains("face.delete") && actions.contains("person.delete"))
        }
    }

    @Test(TestServer.sqliteOnly) func importValidatesEveryItemAndWritesNothingOnAnError() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let short = try await client.call(.post, "/faces/import", as: owner.caller, json: Self.importBody([
                ["external_id": "E-1", "encoding": Self.encoding(1)],
                ["external_id": "E-2", "encoding": Array(Self.encoding(2).prefix(127))],
            ]))
            expectError(short, .badRequest, "invalid_field")
            #expect(short.text.contains("[1].encoding"))
            var huge = Self.encoding(3)
            huge[5] = 1e300
            expectError(try await client.call(.post, "/faces/import", as: owner.caller, json: Self.importBody([
                ["external_id": "E-3", "encoding": huge],
            ])), .badRequest, "invalid_field")
            expectError(try await client.call(.post, "/faces/import", as: owner.caller, json: Self.importBody([
                ["encoding": Self.encoding(4)],
            ])), .badRequest, "missing_field")
            expectError(try await client.call(.post, "/faces/import", as: owner.caller, json: Self.importBody([
                ["person_id": 424242, "encoding": Self.encoding(4)],
            ])), .notFound, "not_found")
            expectError(try await client.call(.post, "/faces/import", as: owner.caller, json: "[]"), .badRequest, "invalid_field")
            let lines = Self.importBody([["external_id": "L-1", "encoding": Self.encoding(5)]]).dropFirst().dropLast()
            let badLine = try await client.call(.post, "/faces/import", as: owner.caller, json: "\(lines)\n{\"external_id\": 5}\n")
            expectError(badLine, .badRequest, "invalid_field")
            #expect(badLine.text.contains("line 2"))
            // Nothing of the failed requests was written.
            let counts = try await server.services.sqlite.pool.read { db in
                try [Int.fetchOne(db, sql: "SELECT COUNT(*) FROM faces"), Int.fetchOne(db, sql: "SELECT COUNT(*) FROM persons"),
                     Int.fetchOne(db, sql: "SELECT COUNT(*) FROM changes")]
            }
            #expect(counts == [0, 0, 0])
            // JSON lines that are right import.
            let good = try await client.call(.post, "/faces/import", as: owner.caller,
                                             json: "\(lines)\n\n" + Self.importBody([["external_id": "L-2", "encoding": Self.encoding(6)]]).dropFirst().dropLast())
            #expect(good["imported"] as? Int == 2, "\(good.text)")
        }
    }

    /// A precomputed encoding is searched like a photo's face (and logged); `/index/status` shows this node's copy at the
    /// feed head with the store's digest, before and after a delete, and `/metrics` the same per company.
    @Test func encodingSearchAndTheIndexStatusAgreeWithTheStore() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let imported = try await client.call(.post, "/faces/import", as: owner.caller, json: Self.importBody(
                (1...6).map { ["external_id": "E-\($0)", "full_name": "Person \($0)", "encoding": Self.encoding($0)] }))
            let faceIDs = try #require((imported["face_ids"] as? [NSNumber])?.map(\.int64Value))
            let found = try await client.call(.post, "/face/search/encoding", as: owner.caller, json: JSON([
                "encoding": Self.encoding(3, jitter: 0.002), "top_k": 3, "location": "Gate 1",
            ]))
            #expect(found.status == .ok, "\(found.text)")
            #expect(found["decision"] as? String == "match" && found["model"] as? String == "dlib-resnet-v1")
            let candidates = try #require(found["candidates"] as? [[String: Any]])
            #expect(candidates.count == 3 && (candidates[0]["face_id"] as? NSNumber)?.int64Value == faceIDs[2])
            #expect((candidates[0]["person"] as? [String: Any])?["external_id"] as? String == "E-3")
            let log = try #require(try await client.call(.get, "/logs", as: owner.caller)["entries"] as? [[String: Any]])
            #expect(log.first?["location"] as? String == "Gate 1" && log.first?["decision"] as? String == "match")
            expectError(try await client.call(.post, "/face/search/encoding", as: owner.caller, json: JSON(["encoding": [0.1, 0.2]])),
                        .badRequest, "invalid_field")
            expectError(try await client.call(.post, "/face/search/encoding", as: owner.caller, json: JSON([
                "encoding": Self.encoding(1), "model": "sface-2021dec",
            ])), .badRequest, "invalid_field")

            func expectCurrent(count: Int) async throws {
                let status = try await client.call(.get, "/index/status?verify=true", as: owner.caller)
                #expect(status.status == .ok, "\(status.text)")
                let head = try #require((status["feed_head"] as? NSNumber)?.int64Value)
                let collections = try #require(status["collections"] as? [[String: Any]])
                let stored = try #require((status["store"] as? [String: Any])?["collections"] as? [[String: Any]])
                #expect(collections.count == 3 && stored.count == 3)
                for (mine, theirs) in zip(collections, stored) {
                    #expect((mine["watermark"] as? NSNumber)?.int64Value == head)
                    #expect(mine["digest"] as? String == theirs["digest"] as? String && mine["count"] as? Int == theirs["count"] as? Int)
                }
                #expect(collections[0]["space"] as? String == "all:dlib-resnet-v1" && collections[0]["count"] as? Int == count)
            }
            try await expectCurrent(count: 6)
            let before = try await client.call(.get, "/index/status", as: owner.caller)
            #expect(try await client.call(.delete, "/faces/\(faceIDs[0])", as: owner.caller).status == .noContent)
            try await expectCurrent(count: 5)
            let after = try await client.call(.get, "/index/status", as: owner.caller)
            #expect((before["collections"] as? [[String: Any]])?.first?["digest"] as? String
                    != (after["collections"] as? [[String: Any]])?.first?["digest"] as? String)
            expectError(try await client.call(.get, "/index/status?verify=yes", as: owner.caller), .badRequest, "invalid_query")
            expectError(try await client.call(.post, "/face/search/encoding", as: owner.caller, json: JSON([
                "encoding": Self.encoding(1), "top_k": 0,
            ])), .badRequest, "invalid_field")
            expectError(try await client.call(.post, "/face/search/encoding", as: owner.caller, json: JSON([
                "encoding": Self.encoding(1), "group": "nobody",
            ])), .badRequest, "unknown_group")
            let metrics = try await client.call(.get, "/metrics")
            #expect(metrics.text.contains("faceid_index_vectors{company_id=\"\(owner.companyID)\",space=\"all:dlib-resnet-v1\"} 5"))
            #expect(metrics.text.contains("faceid_index_watermark{company_id=\"\(owner.companyID)\""))
        }
    }

    @Test func anotherCompanyCannotReachTheseFaces() async throws {
        try await TestServer().run { client in
            let a = try await client.register("Acme")
            let imported = try await client.call(.post, "/faces/import", as: a.caller, json: Self.importBody([
                ["external_id": "A-1", "encoding": Self.encoding(1)],
            ]))
            let faceID = try #require((imported["face_ids"] as? [NSNumber])?.first?.int64Value)
            let personID = try #require((imported["person_ids"] as? [NSNumber])?.first?.int64Value)
            let b = try await client.register("Bravo")
            expectError(try await client.call(.get, "/faces/\(faceID)", as: b.caller), .notFound, "not_found")
            expectError(try await client.call(.delete, "/faces/\(faceID)", as: b.caller), .notFound, "not_found")
            expectError(try await client.call(.get, "/persons/\(personID)/faces", as: b.caller), .notFound, "not_found")
            expectError(try await client.call(.post, "/faces/import", as: b.caller, json: Self.importBody([
                ["person_id": personID, "encoding": Self.encoding(2)],
            ])), .notFound, "not_found")
            // B's external id A-1 is B's own new person.
            let own = try await client.call(.post, "/faces/import", as: b.caller, json: Self.importBody([
                ["external_id": "A-1", "encoding": Self.encoding(2)],
            ]))
            #expect((own["person_ids"] as? [NSNumber])?.first?.int64Value != personID)
            #expect(try await client.call(.get, "/faces/\(faceID)", as: a.caller).status == .ok)
        }
    }

    @Test func aCrashBeforeTheIndexApplyAndADeletedIndexLoseNothing() async throws {
        let server = try await TestServer()
        let directory = server.directory.appendingPathComponent("replay-index").path
        let store = server.services.store
        let keyRing = server.services.keyRing
        try await server.run { client in
            let owner = try await client.register("Acme")
            var index: IndexService? = try IndexService(directory: directory, store: store, keyRing: keyRing, images: server.services.index.images)
            // Committed to the store, never applied: the process "dies" before catchUp.
            let added = try await store.addFaces(
                (1...5).map { Store.NewFace(person: .external("P\($0)", fullName: "P\($0)"), encoding: Self.encoding($0).map(Float.init)) },
                companyID: owner.companyID, source: "import", reference: false, keyRing: keyRing, actor: "test", origin: .unknown)
            #expect(try index!.collection(owner.companyID).count == 0)
            index = nil  // closes the LMDB environment
            index = try IndexService(directory: directory, store: store, keyRing: keyRing, images: server.services.index.images)
            try await index!.catchUpAll()
            #expect(try index!.collection(owner.companyID).count == 5)
            #expect(try index!.search(owner.companyID, encoding: Self.encoding(4).map(Float.init), k: 1).first?.id == UInt64(added[3].id!))

            // A delete committed but not applied is not returned after the restart either.
            try await store.deleteFace(id: added[3].id!, companyID: owner.companyID, actor: "test", origin: .unknown)
            index = nil
            index = try IndexService(directory: directory, store: store, keyRing: keyRing, images: server.services.index.images)
            try await index!.catchUpAll()
            let before = try (1...5).map { seed in
                try index!.search(owner.companyID, encoding: Self.encoding(seed).map(Float.init), k: 3)
            }
            #expect(!before.flatMap { $0 }.contains { $0.id == UInt64(added[3].id!) })

            // The index folder deleted: rebuilt from the store, same answers.
            index = nil
            try FileManager.default.removeItem(atPath: directory)
            index = try IndexService(directory: directory, store: store, keyRing: keyRing, images: server.services.index.images)
            try await index!.catchUpAll()
            let after = try (1...5).map { seed in
                try index!.search(owner.companyID, encoding: Self.encoding(seed).map(Float.init), k: 3)
            }
            #expect(after == before)
            #expect(try index!.collection(owner.companyID).watermark > 0)
        }
    }

    @Test(TestServer.sqliteOnly) func concurrentWritesLeaveTheIndexEqualToTheStore() async throws {
        let server = try await TestServer()
        let services = server.services
        try await server.run { client in
            let owner = try await client.register("Acme")
            let companyID = owner.companyID
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<16 {
                    group.addTask {
                        for round in 0..<5 {
                            let seed = task * 10 + round
                            let added = try await services.store.addFaces(
                                [Store.NewFace(person: .external("T\(task)", fullName: "T\(task)"), encoding: Self.encoding(seed).map(Float.init))],
                                companyID: companyID, source: "import", reference: false, keyRing: services.keyRing, actor: "test",
                                origin: .unknown)
                            try await services.index.catchUp(companyID)
                            if round % 2 == 1 {
                                try await services.store.deleteFace(id: added[0].id!, companyID: companyID, actor: "test", origin: .unknown)
                                try await services.index.catchUp(companyID)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let stored = try await services.sqlite.pool.read { db in
                try Int64.fetchAll(db, sql: "SELECT id FROM faces WHERE companyID = ?", arguments: [companyID])
            }
            let collection = try services.index.collection(companyID)
            #expect(stored.count == 16 * 3)
            #expect(collection.count == stored.count)
            #expect(stored.allSatisfy { collection.contains(UInt64($0)) })
            let lastSeq = try await services.sqlite.pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM changes") }
            #expect(Int64(collection.watermark) == lastSeq)
        }
    }

    @Test func noPlaintextEncodingInTheStoreOrTheIndexFiles() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let known = Self.encoding(77)
            let imported = try await client.call(.post, "/faces/import", as: owner.caller, json: Self.importBody([
                ["external_id": "K-1", "encoding": known],
            ]))
            #expect(imported.status == .created)
            try server.services.index.database.sync()
            let floats = FaceEncoding.bytes(known.map(Float.init))
            var files: [String] = []
            for suffix in ["", "-wal"] { files.append(server.configuration.databasePath + suffix) }
            files.append(server.configuration.indexPath + "/data.mdb")
            #expect(FileManager.default.fileExists(atPath: files[2]))
            var scanned = 0
            for file in files {
                guard let bytes = FileManager.default.contents(atPath: file) else { continue }
                scanned += bytes.count
                // Any 16 consecutive bytes (four floats) of the encoding would be a leak.
                for start in stride(from: 0, to: floats.count - 16, by: 16) {
                    #expect(bytes.range(of: floats[start..<start + 16]) == nil, "plaintext encoding bytes in \(file)")
                }
            }
            #expect(scanned > 8192)
            // The index holds the vector (it can search it); only sealed bytes reach its file.
            #expect(try server.services.index.collection(owner.companyID).vector(for: UInt64(
                (imported["face_ids"] as? [NSNumber])?.first?.int64Value ?? 0)) == known.map(Float.init))
        }
    }
}
