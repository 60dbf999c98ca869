import Foundation
import GRDB
import Testing

@testable import FaceIDServer

/// Two recognition models side by side: SFace companies still find kiosk-only employees (dlib), a model switch
/// re-embeds the stored photos, and no embedding of either model lies on disk in the clear.
@Suite("Recognition models", .enabled(if: PhotoFixtures.present, "needs libdlib19.1's example photos and models/ (make setup)"))
struct ModelTests {
    static let johns = RecognitionTests.johns

    static func status(_ client: Client, _ caller: Caller) async throws -> [String: Any] {
        let reply = try await client.call(.get, "/models/status", as: caller)
        #expect(reply.status == .ok, "\(reply.text)")
        return reply.json
    }

    static func count(_ status: [String: Any], _ model: RecognitionModel) -> (with: Int?, without: Int?) {
        let row = (status["models"] as? [[String: Any]])?.first { $0["model"] as? String == model.rawValue }
        return (row?["faces_with_embedding"] as? Int, row?["faces_without_embedding"] as? Int)
    }

    /// Kiosks upload dlib encodings only; a photo search in an SFace company must still find those employees — with
    /// dlib, at dlib's preset, and saying so in the candidate.
    @Test(TestServer.sqliteOnly) func kioskOnlyEmployeesAreFoundByPhotoSearchInAnSFaceCompany() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            #expect(try await client.call(.get, "/settings", as: owner.caller).object("settings")["recognition_model"] as? String
                == "sface-2021dec")
            // Two johns enrolled by photo (both models), two registered by a kiosk (dlib only, as face_recognition computes).
            for (name, photos) in Self.johns.prefix(2) {
                #expect(try await RecognitionTests.enroll(client, owner.caller, photos[0], ["full_name": name]).status == .created)
            }
            let kiosk = try await KioskSyncTests.kiosk(client, owner, "Front desk")
            let engine = try server.services.faces.engine()
            for (index, (name, photos)) in Self.johns.dropFirst(2).prefix(2).enumerated() {
                let employee = try await KioskSyncTests.employee(client, owner, name, "T-\(index)")
                let analysis = try await engine.analyze(imageData: FileManager.default.contents(atPath: photos[0])!)
                let encoding = try #require(analysis.faces.first?.descriptor).map(Double.init)
                let uploaded = try await KioskSyncTests.upload(client, kiosk, employee, ["face_encoding": KioskSyncTests.encodingText(encoding)])
                #expect(uploaded.status == .ok, "\(uploaded.text)")
            }
            let status = try await Self.status(client, owner.caller)
            #expect(Self.count(status, .sface) == (2, 2))
            #expect(Self.count(status, .dlib) == (4, 0))
            #expect((status["must_reenroll"] as? [String: Any])?["count"] as? Int == 2)

            for (index, (name, photos)) in Self.johns.prefix(4).enumerated() {
                let expected = index < 2 ? RecognitionModel.sface : .dlib
                for photo in photos.dropFirst().prefix(4) {
                    let reply = try await RecognitionTests.search(client, owner.caller, photo)
                    #expect(reply["decision"] as? String == "match", "\(photo): \(reply.text.prefix(400))")
                    #expect(RecognitionTests.best(reply).name == name, "\(photo)")
                    let best = ((reply["faces"] as? [[String: Any]])?.first?["candidates"] as? [[String: Any]])?.first
                    #expect(best?["model"] as? String == expected.rawValue, "\(photo)")
                }
            }
            // A john nobody enrolled is unknown under both models.
            for photo in Self.johns[4].1.prefix(4) {
                let reply = try await RecognitionTests.search(client, owner.caller, photo)
                #expect(reply["decision"] as? String == "unknown", "\(photo): \(reply.text.prefix(400))")
            }
            // 1:1 against a kiosk-only employee uses their model.
            let kioskPerson = try await Self.personID(server, owner, Self.johns[2].0)
            let verify = try await client.call(.post, "/face/verify", as: owner.caller, json: JSON([
                "person_id": kioskPerson, "image": RecognitionTests.image(Self.johns[2].1[1]),
            ]))
            #expect(verify["decision"] as? String == "match", "\(verify.text)")
            #expect(verify["model"] as? String == "dlib-resnet-v1")
        }
    }

    static func personID(_ server: TestServer, _ tenant: Tenant, _ name: String) async throws -> Int64 {
        try await server.services.sqlite.pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT id FROM persons WHERE companyID = ? AND fullName = ?", arguments: [tenant.companyID, name])
        } ?? -1
    }

    /// A company whose faces predate SFace (dlib only — here made so by removing the SFace rows, as the store looked
    /// before this version) switches to SFace: the stored photos are re-embedded in the background; faces without a photo
    /// are listed for re-enrollment.
    @Test(TestServer.sqliteOnly) func switchingModelsReembedsTheStoredPhotos() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            try await RecognitionTests.use(.dlib, client, owner.caller)
            #expect(try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["store_images": true])).status == .ok)
            for (name, photos) in Self.johns.prefix(5) {
                #expect(try await RecognitionTests.enroll(client, owner.caller, photos[0], ["full_name": name]).status == .created)
            }
            // The last one's photo is not kept (enrolled before store_images was turned on, say).
            let lastName = Self.johns[4].0
            let lastFace = try #require(try await server.services.store.faces(
                personID: try await Self.personID(server, owner, lastName), companyID: owner.companyID)?.first?.id)
            try await server.services.index.images.removePhotos(companyID: owner.companyID, faceIDs: [lastFace])
            // As before SFace: no SFace embedding anywhere (and the feed tells the index).
            try await server.services.sqlite.pool.write { db in
                try db.execute(sql: "DELETE FROM faceEmbeddings WHERE companyID = ?", arguments: [owner.companyID])
                // A feed row per face (what the triggers write for an embedding added), so the index drops the SFace vectors.
                try db.execute(sql: """
                    INSERT INTO changes (companyID, personID, faceID, op, employee, atMicros)
                    SELECT companyID, personID, id, 'upsert', 0, 0 FROM faces WHERE companyID = ?
                    """, arguments: [owner.companyID])
            }
            try await server.services.index.catchUp(owner.companyID)
            let before = try await Self.status(client, owner.caller)
            #expect(Self.count(before, .sface) == (0, 5))

            let switched = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["recognition_model": "sface-2021dec"]))
            #expect(switched.object("settings")["match_threshold"] as? Double == 1.02)
            await server.services.migration.wait(companyID: owner.companyID)
            let after = try await Self.status(client, owner.caller)
            #expect(Self.count(after, .sface) == (4, 1), "\(after)")
            let migration = try #require(after["migration"] as? [String: Any])
            #expect(migration["state"] as? String == "finished")
            #expect(migration["embedded"] as? Int == 4)
            #expect(migration["without_photo"] as? Int == 1)
            let reenroll = try #require(after["must_reenroll"] as? [String: Any])
            #expect(reenroll["count"] as? Int == 1)
            #expect((reenroll["persons"] as? [[String: Any]])?.first?["full_name"] as? String == lastName)
            // Every re-embedded face is found with SFace; the one without a photo still with dlib.
            for (index, (name, photos)) in Self.johns.prefix(5).enumerated() {
                let reply = try await RecognitionTests.search(client, owner.caller, photos[1])
                #expect(RecognitionTests.best(reply).name == name, "\(reply.text.prefix(300))")
                let best = ((reply["faces"] as? [[String: Any]])?.first?["candidates"] as? [[String: Any]])?.first
                #expect(best?["model"] as? String == (index < 4 ? "sface-2021dec" : "dlib-resnet-v1"))
            }
        }
    }

    /// The other way round: faces imported with SFace alone are found by a dlib company's photo search, with SFace; an
    /// SFace import must be a unit vector.
    @Test func sfaceOnlyImportsAreFoundInADlibCompany() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            try await RecognitionTests.use(.dlib, client, owner.caller)
            for (name, photos) in Self.johns.prefix(2) {
                #expect(try await RecognitionTests.enroll(client, owner.caller, photos[0], ["full_name": name]).status == .created)
            }
            let (name, photos) = Self.johns[2]
            let analysis = try await server.services.faces.analyze(FileManager.default.contents(atPath: photos[0])!, model: .sface)
            let embedding = try #require(analysis.largestFace?.embeddings[.sface]).map(Double.init)
            let bad = try await client.call(.post, "/faces/import", as: owner.caller, json: FacesTests.importBody([
                ["external_id": "j3", "full_name": name, "model": "sface-2021dec", "encoding": embedding.map { $0 * 2 }],
            ]))
            expectError(bad, .badRequest, "invalid_field")
            #expect(bad.text.contains("[0].encoding"))
            expectError(try await client.call(.post, "/faces/import", as: owner.caller, json: FacesTests.importBody([
                ["external_id": "j3", "full_name": name, "model": "arcface", "encoding": embedding],
            ])), .badRequest, "invalid_field")
            let imported = try await client.call(.post, "/faces/import", as: owner.caller, json: FacesTests.importBody([
                ["external_id": "j3", "full_name": name, "model": "sface-2021dec", "encoding": embedding],
            ]))
            #expect(imported.status == .created, "\(imported.text)")
            let faceID = try #require((imported["face_ids"] as? [NSNumber])?.first?.int64Value)
            #expect(try await client.call(.get, "/faces/\(faceID)", as: owner.caller).object("face")["model_id"] as? String == "sface-2021dec")
            for photo in photos.dropFirst().prefix(3) {
                let reply = try await RecognitionTests.search(client, owner.caller, photo)
                #expect(reply["decision"] as? String == "match", "\(photo): \(reply.text.prefix(400))")
                #expect(RecognitionTests.best(reply).name == name)
                let best = ((reply["faces"] as? [[String: Any]])?.first?["candidates"] as? [[String: Any]])?.first
                #expect(best?["model"] as? String == "sface-2021dec")
            }
            // The enrolled johns are still found with dlib, the company's model.
            let reply = try await RecognitionTests.search(client, owner.caller, Self.johns[0].1[1])
            #expect(RecognitionTests.best(reply).name == Self.johns[0].0)
            let best = ((reply["faces"] as? [[String: Any]])?.first?["candidates"] as? [[String: Any]])?.first
            #expect(best?["model"] as? String == "dlib-resnet-v1")
        }
    }

    /// Faces found by id or by group must be found by key: with `faces_company_model` SQLite would otherwise walk every
    /// face of the company for each search (a million-face search took 156 ms instead of 50).
    @Test(TestServer.sqliteOnly) func facesByIDSeekTheirKeys() async throws {
        let server = try await TestServer()
        try await server.run { _ in
            let plans = try await server.services.sqlite.pool.read { db in
                try ["SELECT id, personID FROM faces WHERE +companyID = 1 AND id IN (1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20)",
                     "SELECT id, modelID FROM faces WHERE +companyID = 1 AND id IN (1,2,3)",
                     "SELECT id FROM faces WHERE +companyID = 1 AND id IN (1,2,3)",
                     "SELECT f.id FROM faces f JOIN personGroups pg ON pg.personID = f.personID WHERE pg.groupID = 1 AND +f.companyID = 1"]
                    .map { try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + $0).map { $0["detail"] as String }.joined(separator: "; ") }
            }
            for plan in plans { #expect(!plan.contains("faces_company_model"), "\(plan)") }
        }
    }

    /// Every file under the data folder, searched for each stored embedding's float32 bytes (and the kiosk's float64).
    @Test func noEmbeddingOfEitherModelLiesOnDiskInTheClear() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            #expect(try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["store_images": true])).status == .ok)
            let (name, photos) = Self.johns[0]
            let image = FileManager.default.contents(atPath: photos[0])!
            let enrolled = try await RecognitionTests.enroll(client, owner.caller, photos[0], ["full_name": name])
            #expect(enrolled.status == .created)
            let faceID = try #require((enrolled["face_id"] as? NSNumber)?.uint64Value)
            let analysis = try await server.services.faces.analyze(image, model: .sface, also: [.dlib])
            let face = try #require(analysis.faces.first)
            let sface = try #require(face.embeddings[.sface]), dlib = try #require(face.embeddings[.dlib])
            try await server.services.index.catchUp(owner.companyID)
            // The index holds both (so the search really used them); the bytes are nowhere in the clear.
            #expect(try server.services.index.collection(owner.companyID, .all(.sface)).vector(for: faceID) == sface)
            #expect(try server.services.index.collection(owner.companyID, .all(.dlib)).vector(for: faceID) == dlib)
            let needles = [sface, dlib].map { vector in Data(FaceEncoding.bytes(vector).prefix(32)) }
            var files = 0
            for case let path as String in FileManager.default.enumerator(atPath: server.directory.path)! {
                let full = server.directory.path + "/" + path
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue,
                      let data = FileManager.default.contents(atPath: full) else { continue }
                files += 1
                for needle in needles { #expect(data.range(of: needle) == nil, "an embedding in the clear in \(path)") }
            }
            // The index's two files and the audit head, plus the SQLite store and the kept photo's file (PostgreSQL keeps both).
            #expect(files >= (server.services.store is PostgresStore ? 3 : 4))
        }
    }
}
