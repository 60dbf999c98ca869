import Crypto
import Foundation
import Testing

@testable import FaceIDServer

enum SHA256Hex {
    static func of(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }
}

enum PhotoFixtures {
    static let examples = "/usr/share/doc/libdlib19.1/examples"
    static var present: Bool {
        FileManager.default.fileExists(atPath: examples + "/johns")
            && FileManager.default.fileExists(atPath: TestServer.packageRoot + "/models/dlib_face_recognition_resnet_model_v1.dat")
    }
}

/// Enrollment and 1:N search with real photos: the johns and faces that Debian's libdlib19.1 installs.
@Suite("Photo enrollment and search", .enabled(if: PhotoFixtures.present, "needs libdlib19.1's example photos and models/ (make setup)"))
struct RecognitionTests {
    static let examples = PhotoFixtures.examples

    /// Each john's photos, sorted: name → paths.
    static let johns: [(String, [String])] = {
        let root = examples + "/johns"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted()
        return names.map { name in
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + name)) ?? []).filter { $0.hasSuffix(".jpg") }.sorted()
            return (name, files.map { root + "/" + name + "/" + $0 })
        }
    }()

    static func image(_ path: String) -> String {
        (FileManager.default.contents(atPath: path) ?? Data()).base64EncodedString()
    }

    static func enroll(_ client: Client, _ caller: Caller, _ path: String, _ fields: [String: Any]) async throws -> Reply {
        var body = fields
        body["image"] = image(path)
        return try await client.call(.post, "/face/enroll", as: caller, json: JSON(body))
    }

    static func search(_ client: Client, _ caller: Caller, _ path: String, _ fields: [String: Any] = [:]) async throws -> Reply {
        var body = fields
        body["image"] = image(path)
        return try await client.call(.post, "/face/search", as: caller, json: JSON(body))
    }

    static func best(_ reply: Reply) -> (name: String?, distance: Double?) {
        let face = (reply["faces"] as? [[String: Any]])?.first
        let candidate = (face?["candidates"] as? [[String: Any]])?.first
        return ((candidate?["person"] as? [String: Any])?["full_name"] as? String, candidate?["distance"] as? Double)
    }

    /// Uses `model` for the company's photo search (new companies start with SFace).
    static func use(_ model: RecognitionModel, _ client: Client, _ caller: Caller) async throws {
        let reply = try await client.call(.patch, "/settings", as: caller, json: JSON(["recognition_model": model.rawValue]))
        #expect(reply.status == .ok, "\(reply.text)")
        #expect(reply.object("settings")["recognition_model"] as? String == model.rawValue)
    }

    @Test(arguments: RecognitionModel.allCases)
    func enrollOnePhotoPerJohnAndRecognizeTheOthers(model: RecognitionModel) async throws {
        try #require(Self.johns.count >= 5)
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            try await Self.use(model, client, owner.caller)
            let enrolled = Array(Self.johns.prefix(4))
            var personIDs: [Int64] = []
            for (name, photos) in enrolled {
                let reply = try await Self.enroll(client, owner.caller, photos[0], ["full_name": name, "external_id": name])
                #expect(reply.status == .created, "\(name): \(reply.text)")
                #expect(reply.object("quality")["size"] as? Int ?? 0 > 0)
                // Both models' embeddings are stored, whichever the company searches with.
                #expect(reply["models"] as? [String] == RecognitionModel.allCases.map(\.rawValue), "\(reply.text)")
                personIDs.append(try #require((reply.object("person")["id"] as? NSNumber)?.int64Value))
            }
            let key = try await client.apiKey([.recognize], in: owner)
            for (name, photos) in enrolled {
                for photo in photos.dropFirst() {
                    let reply = try await Self.search(client, .apiKey(key.key), photo, ["location": "Gate 1"])
                    #expect(reply.status == .ok, "\(reply.text)")
                    #expect(reply["decision"] as? String == "match", "\(photo): \(reply.text.prefix(300))")
                    #expect(Self.best(reply).name == name, "\(photo)")
                    #expect(reply["model"] as? String == model.rawValue)
                    let candidates = (reply["faces"] as? [[String: Any]])?.first?["candidates"] as? [[String: Any]] ?? []
                    #expect(!candidates.isEmpty && candidates.allSatisfy { $0["model"] as? String == model.rawValue })
                }
            }
            // A john never enrolled is unknown.
            let (stranger, strangerPhotos) = Self.johns[4]
            for photo in strangerPhotos {
                let reply = try await Self.search(client, .apiKey(key.key), photo)
                #expect(reply["decision"] as? String == "unknown", "\(stranger) \(photo): \(reply.text.prefix(300))")
            }

            // Every search is in the access log, filterable by person, decision and time.
            let searches = enrolled.reduce(0) { $0 + $1.1.count - 1 } + strangerPhotos.count
            let all = try await client.call(.get, "/logs?limit=500", as: owner.caller)
            let entries = try #require(all["entries"] as? [[String: Any]])
            #expect(entries.count == searches)
            let newest = try #require(entries.first)
            #expect(newest["actor"] as? String == "api_key:\(key.id)")
            #expect(newest["decision"] as? String == "unknown")
            let probe = FileManager.default.contents(atPath: strangerPhotos.last!)!
            #expect(newest["probe_sha256"] as? String == SHA256Hex.of(probe))
            #expect((newest["latency_ms"] as? Double ?? 0) > 0)
            let first = try await client.call(.get, "/logs?person_id=\(personIDs[0])&decision=match", as: owner.caller)
            let firstEntries = try #require(first["entries"] as? [[String: Any]])
            #expect(firstEntries.count == enrolled[0].1.count - 1)
            #expect(firstEntries.allSatisfy { $0["location"] as? String == "Gate 1" })
            let unknown = try await client.call(.get, "/logs?decision=unknown", as: owner.caller)
            #expect((unknown["entries"] as? [[String: Any]])?.count == strangerPhotos.count)
            let future = try await client.call(.get, "/logs?from=2999-01-01T00:00:00Z", as: owner.caller)
            #expect((future["entries"] as? [[String: Any]])?.isEmpty == true)
            expectError(try await client.call(.get, "/logs?decision=maybe", as: owner.caller), .badRequest, "invalid_query")
            let other = try await client.register("Bravo")
            #expect((try await client.call(.get, "/logs", as: other.caller)["entries"] as? [[String: Any]])?.isEmpty == true)

            // 1:1 verification.
            let same = try await client.call(.post, "/face/verify", as: .apiKey(key.key), json: JSON([
                "person_id": personIDs[0], "image": Self.image(enrolled[0].1[1]),
            ]))
            #expect(same["decision"] as? String == "match", "\(same.text)")
            let different = try await client.call(.post, "/face/verify", as: .apiKey(key.key), json: JSON([
                "person_id": personIDs[1], "image": Self.image(enrolled[0].1[1]),
            ]))
            #expect(different["decision"] as? String == "unknown", "\(different.text)")
            #expect((different["distance"] as? Double ?? 0) > (same["distance"] as? Double ?? 1))
            #expect(same["model"] as? String == model.rawValue)
            expectError(try await client.call(.post, "/face/verify", as: other.caller, json: JSON([
                "person_id": personIDs[0], "image": Self.image(enrolled[0].1[1]),
            ])), .notFound, "not_found")
            // Verifications are logged too (the refused one of another company is not an attempt on this company).
            let latest = try await client.call(.get, "/logs?limit=2", as: owner.caller)
            let latestEntries = try #require(latest["entries"] as? [[String: Any]])
            #expect(latestEntries.map { ($0["person_id"] as? NSNumber)?.int64Value } == [personIDs[1], personIDs[0]])
            #expect(latestEntries.map { $0["decision"] as? String } == ["unknown", "match"])
        }
    }

    @Test func groupsDuplicatesDeletionAndBadPhotos() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            _ = try await client.call(.post, "/groups", as: owner.caller, json: JSON(["name": "Day"]))
            let (first, firstPhotos) = Self.johns[0]
            let (second, secondPhotos) = Self.johns[1]
            let a = try await Self.enroll(client, owner.caller, firstPhotos[0], ["full_name": first, "groups": ["Day"]])
            let aID = try #require((a.object("person")["id"] as? NSNumber)?.int64Value)
            let b = try await Self.enroll(client, owner.caller, secondPhotos[0], ["full_name": second])
            #expect(b.status == .created)

            // A group-limited search never answers with someone outside the group.
            let limited = try await Self.search(client, owner.caller, secondPhotos[1], ["group": "Day"])
            let names = ((limited["faces"] as? [[String: Any]])?.first?["candidates"] as? [[String: Any]] ?? [])
                .compactMap { ($0["person"] as? [String: Any])?["full_name"] as? String }
            #expect(!names.contains(second))
            #expect(limited["decision"] as? String == "unknown")
            expectError(try await Self.search(client, owner.caller, secondPhotos[1], ["group": "Night"]), .badRequest, "unknown_group")

            // The duplicate guard: a second person with the first john's face → 409 naming him; the same person → fine.
            let staff = try await client.user(.staff, in: owner)
            let duplicate = try await Self.enroll(client, .token(staff.token), firstPhotos[1], ["full_name": "Impostor"])
            expectError(duplicate, .conflict, "duplicate_face")
            // The conflicting person's id and the distance are JSON numbers, as everywhere else in the API.
            #expect((duplicate["person_id"] as? NSNumber)?.int64Value == aID, "\(duplicate.text)")
            #expect(!duplicate.text.contains("\"person_id\":\""), "\(duplicate.text)")
            #expect(duplicate["distance"] is NSNumber && duplicate["full_name"] as? String == first)
            let staffOverride = try await Self.enroll(client, .token(staff.token), firstPhotos[1],
                                                      ["full_name": "Impostor", "allow_duplicate": true])
            expectError(staffOverride, .conflict, "duplicate_face")
            let same = try await Self.enroll(client, owner.caller, firstPhotos[1], ["person_id": aID])
            #expect(same.status == .created, "\(same.text)")
            let persons = try await client.call(.get, "/persons", as: owner.caller)
            #expect((persons["persons"] as? [[String: Any]])?.count == 2)  // the refused enrollments left nothing

            // A deleted person is never returned again, and the deletion is audited.
            #expect(try await client.call(.delete, "/persons/\(aID)", as: owner.caller).status == .ok)
            let after = try await Self.search(client, owner.caller, firstPhotos[2])
            #expect(Self.best(after).name != first)
            #expect(after["decision"] as? String == "unknown")
            let audit = try await client.call(.get, "/audit?action=person.delete", as: owner.caller)
            #expect((audit["events"] as? [[String: Any]])?.count == 1)

            // Bad photos: their 4xx codes, nothing written.
            let group = Self.examples + "/faces/2008_002506.jpg"
            let many = try await Self.enroll(client, owner.caller, group, ["full_name": "Crowd"])
            expectError(many, .unprocessableContent, "multiple_faces")
            let largest = try await Self.enroll(client, owner.caller, group, ["full_name": "Crowd", "select": "largest"])
            #expect(largest.status == .created, "\(largest.text.prefix(300))")
            let text = try await client.call(.post, "/face/enroll", as: owner.caller, json: JSON([
                "full_name": "X", "image": Data("hello, not a photo".utf8).base64EncodedString(),
            ]))
            expectError(text, .unsupportedMediaType, "unsupported_format")
            expectError(try await client.call(.post, "/face/enroll", as: owner.caller, json: JSON(["full_name": "X", "image": ""])),
                        .badRequest, "empty_image")
            var truncated = FileManager.default.contents(atPath: secondPhotos[2])!
            truncated = truncated.prefix(truncated.count / 2)
            let broken = try await client.call(.post, "/face/enroll", as: owner.caller, json: JSON([
                "full_name": "X", "image": truncated.base64EncodedString(),
            ]))
            #expect([400, 422].contains(broken.status.code), "\(broken.text)")
            // Malformed search and enroll fields: 400 naming the field, 404 for a person that is not there.
            let probe = secondPhotos[3]
            for (fields, field) in [(["top_k": 0], "top_k"), (["top_k": 101], "top_k"), (["max_distance": 5], "max_distance"),
                                    (["faces": "some"], "faces"), (["top_k": "five"], "top_k")] as [([String: Any], String)] {
                let reply = try await Self.search(client, owner.caller, probe, fields)
                expectError(reply, .badRequest, "invalid_field")
                #expect(reply.text.contains(field), "\(reply.text)")
            }
            expectError(try await Self.enroll(client, owner.caller, probe, [:]), .badRequest, "invalid_field")
            expectError(try await Self.enroll(client, owner.caller, probe, ["person_id": 987_654]), .notFound, "not_found")
            expectError(try await client.call(.post, "/face/search", as: owner.caller, json: JSON(["top_k": 3])), .badRequest, "missing_field")
            let noFace = try await Self.search(client, owner.caller, Self.examples + "/mmod_cars_test_image.jpg")
            #expect(noFace["decision"] as? String == "no_face", "\(noFace.text.prefix(300))")
            expectError(try await Self.enroll(client, owner.caller, Self.examples + "/mmod_cars_test_image.jpg", ["full_name": "Car"]),
                        .unprocessableContent, "no_face")
        }
    }

    @Test func multipartEnrollSearchAndVerify() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            _ = try await client.call(.post, "/groups", as: owner.caller, json: JSON(["name": "Day"]))
            let (name, photos) = Self.johns[2]
            let raw = FileManager.default.contents(atPath: photos[0])!
            // Raw bytes, not text: send them through the client's body as they are.
            var body = Data("--b1\r\nContent-Disposition: form-data; name=\"full_name\"\r\n\r\n\(name)\r\n".utf8)
            body += Data("--b1\r\nContent-Disposition: form-data; name=\"groups\"\r\n\r\nDay\r\n".utf8)
            body += Data("--b1\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\n[\"a\", \"b\"]\r\n".utf8)
            body += Data("--b1\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\n".utf8) + raw
            body += Data("\r\n--b1--\r\n".utf8)
            let enrolled = try await client.raw(.post, "/face/enroll", as: owner.caller, body: body, contentType: "multipart/form-data; boundary=b1")
            #expect(enrolled.status == .created, "\(enrolled.text.prefix(300))")
            #expect(enrolled.object("person")["groups"] as? [String] == ["Day"])
            #expect(enrolled.object("person")["tags"] as? [String] == ["a", "b"])
            let personID = try #require((enrolled.object("person")["id"] as? NSNumber)?.int64Value)

            let probe = FileManager.default.contents(atPath: photos[3])!
            var search = Data("--b2\r\nContent-Disposition: form-data; name=\"top_k\"\r\n\r\n3\r\n".utf8)
            search += Data("--b2\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\n\r\n".utf8) + probe
            search += Data("\r\n--b2--\r\n".utf8)
            let found = try await client.raw(.post, "/face/search", as: owner.caller, body: search, contentType: "multipart/form-data; boundary=b2")
            #expect(found["decision"] as? String == "match", "\(found.text.prefix(300))")
            #expect(Self.best(found).name == name)

            var verify = Data("--b3\r\nContent-Disposition: form-data; name=\"person_id\"\r\n\r\n\(personID)\r\n".utf8)
            verify += Data("--b3\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n".utf8) + probe + Data("\r\n--b3--\r\n".utf8)
            let verified = try await client.raw(.post, "/face/verify", as: owner.caller, body: verify, contentType: "multipart/form-data; boundary=b3")
            #expect(verified["decision"] as? String == "match", "\(verified.text)")

            let badNumber = Data("--b4\r\nContent-Disposition: form-data; name=\"person_id\"\r\n\r\nseven\r\n--b4--\r\n".utf8)
            expectError(try await client.raw(.post, "/face/verify", as: owner.caller, body: badNumber,
                                             contentType: "multipart/form-data; boundary=b4"), .badRequest, "invalid_field")
            expectError(try await client.raw(.post, "/face/verify", as: owner.caller, body: badNumber, contentType: "multipart/form-data"),
                        .badRequest, "invalid_multipart")
            let missingImage = Data("--b5\r\nContent-Disposition: form-data; name=\"full_name\"\r\n\r\nX\r\n--b5--\r\n".utf8)
            expectError(try await client.raw(.post, "/face/enroll", as: owner.caller, body: missingImage,
                                             contentType: "multipart/form-data; boundary=b5"), .badRequest, "missing_field")
        }
    }

    @Test func newCompaniesSearchWithSFace() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let settings = try await client.call(.get, "/settings", as: owner.caller).object("settings")
            #expect(settings["recognition_model"] as? String == "sface-2021dec")
            #expect(settings["match_preset"] as? String == "balanced")
            #expect(settings["match_threshold"] as? Double == 1.02)
            #expect(settings["duplicate_distance"] as? Double == 0.9)
            // Switching keeps the preset's name in the new model's units; an unknown model is refused.
            let strict = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["match_preset": "strict"]))
            #expect(strict.object("settings")["match_threshold"] as? Double == 1.0)
            let dlib = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["recognition_model": "dlib-resnet-v1"]))
            #expect(dlib.object("settings")["match_threshold"] as? Double == 0.42)
            #expect(dlib.object("settings")["match_preset"] as? String == "strict")
            #expect(dlib.object("settings")["duplicate_distance"] as? Double == 0.45)
            let unknown = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["recognition_model": "arcface"]))
            expectError(unknown, .badRequest, "invalid_field")
            #expect(unknown.text.contains("recognition_model"))
            // A threshold is checked against the company's model: 1.0 is an SFace distance, not a dlib one.
            expectError(try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["match_threshold": 1.0])), .badRequest, "invalid_field")
            let both = try await client.call(.patch, "/settings", as: owner.caller, json: JSON([
                "recognition_model": "sface-2021dec", "match_threshold": 0.98, "duplicate_distance": 1.1,
            ]))
            #expect(both.status == .ok, "\(both.text)")
            #expect(both.object("settings")["match_preset"] as? String == "custom")
        }
    }

    @Test(arguments: RecognitionModel.allCases)
    func presetsAndSimilarityThresholds(model: RecognitionModel) async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            try await Self.use(model, client, owner.caller)
            let settings = try await client.call(.get, "/settings", as: owner.caller).object("settings")
            #expect(settings["match_preset"] as? String == "balanced")
            #expect(settings["match_threshold"] as? Double == model.threshold(.balanced))
            let strict = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["match_preset": "strict"]))
            #expect(strict.object("settings")["match_threshold"] as? Double == model.threshold(.strict))
            #expect(strict.object("settings")["match_margin"] as? Double == model.margin(.strict))
            let customThreshold = model.threshold(.strict) - 0.03
            let custom = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["match_threshold": customThreshold]))
            #expect(custom.object("settings")["match_preset"] as? String == "custom")
            #expect(custom.object("settings")["match_margin"] as? Double == model.margin(.strict))
            let bad = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["match_preset": "loose"]))
            expectError(bad, .badRequest, "invalid_field")
            #expect(bad.text.contains("match_preset"))
            let back = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["match_preset": "balanced"]))
            #expect(back.object("settings")["match_threshold"] as? Double == model.threshold(.balanced))

            // Similarity is the calibrated function of the distance; min_similarity (0–1 or percent) is that threshold.
            let (name, photos) = Self.johns[1]
            #expect(try await Self.enroll(client, owner.caller, photos[0], ["full_name": name]).status == .created)
            let found = try await Self.search(client, owner.caller, photos[1])
            let candidate = try #require(((found["faces"] as? [[String: Any]])?.first?["candidates"] as? [[String: Any]])?.first)
            let distance = try #require(candidate["distance"] as? Double), similarity = try #require(candidate["similarity"] as? Double)
            #expect(candidate["model"] as? String == model.rawValue)
            #expect(abs(similarity - Similarity.of(distance: distance, model: model)) < 1e-3)
            let d0 = model.similarityFit.d0
            #expect(Similarity.of(distance: d0 - 0.1, model: model) > Similarity.of(distance: d0, model: model))
            #expect(Similarity.of(distance: d0, model: model) == 0.5)
            #expect(abs(Similarity.of(distance: try Similarity.distance(minimum: 0.9, model: model), model: model) - 0.9) < 1e-9)
            let justAbove = Similarity.of(distance: distance - 0.005, model: model), justBelow = Similarity.of(distance: distance + 0.005, model: model)
            let above = try await Self.search(client, owner.caller, photos[1], ["min_similarity": justAbove])
            #expect(above["decision"] as? String == "unknown", "\(above.text.prefix(300))")
            let below = try await Self.search(client, owner.caller, photos[1], ["min_similarity": justBelow * 100])
            #expect(below["decision"] as? String == "match", "\(below.text.prefix(300))")
            // The same field as a multipart form field.
            var form = Data("--b9\r\nContent-Disposition: form-data; name=\"min_similarity\"\r\n\r\n\(justAbove)\r\n".utf8)
            form += Data("--b9\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n".utf8)
                + FileManager.default.contents(atPath: photos[1])! + Data("\r\n--b9--\r\n".utf8)
            let multipart = try await client.raw(.post, "/face/search", as: owner.caller, body: form, contentType: "multipart/form-data; boundary=b9")
            #expect(multipart["decision"] as? String == "unknown", "\(multipart.text.prefix(300))")
            for fields in [["min_similarity": 150], ["min_similarity": -1], ["min_similarity": 0.9, "max_distance": 0.5]] {
                let reply = try await Self.search(client, owner.caller, photos[1], fields)
                expectError(reply, .badRequest, "invalid_field")
                #expect(reply.text.contains("min_similarity"), "\(reply.text)")
            }
        }
    }

    @Test func storedPhotosAreSealedAdminOnlyAndDeletedWithTheirFace() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let (name, photos) = Self.johns[3]
            // Off by default: nothing is kept.
            let plain = try await Self.enroll(client, owner.caller, photos[0], ["full_name": name])
            let plainFace = try #require((plain["face_id"] as? NSNumber)?.int64Value)
            expectError(try await client.call(.get, "/faces/\(plainFace)/image", as: owner.caller), .notFound, "image_not_stored")

            _ = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["store_images": true]))
            let kept = try await Self.enroll(client, owner.caller, photos[1], ["full_name": "Second " + name, "allow_duplicate": true])
            #expect(kept.status == .created, "\(kept.text.prefix(300))")
            let faceID = try #require((kept["face_id"] as? NSNumber)?.int64Value)
            let personID = try #require((kept.object("person")["id"] as? NSNumber)?.int64Value)
            let photo = try await client.call(.get, "/faces/\(faceID)/image", as: owner.caller)
            #expect(photo.status == .ok)
            #expect(photo.headers[.contentType] == "image/jpeg")
            #expect(photo.data == FileManager.default.contents(atPath: photos[1]))
            let staff = try await client.user(.staff, in: owner)
            expectError(try await client.call(.get, "/faces/\(faceID)/image", as: .token(staff.token)), .forbidden, "forbidden")
            let other = try await client.register("Bravo")
            expectError(try await client.call(.get, "/faces/\(faceID)/image", as: other.caller), .notFound, "not_found")
            let audit = try await client.call(.get, "/audit?action=face.image_read", as: owner.caller)
            #expect((audit["events"] as? [[String: Any]])?.count == 1, "\(audit.text.prefix(300))")

            // Kept sealed (no JPEG bytes) — in files beside SQLite, in `face_photos` on PostgreSQL — and gone with its person.
            let folder = server.configuration.imagesPath + "/\(owner.companyID)"
            let postgres = server.services.store as? PostgresStore
            func keptPhotos() async throws -> [Int64: Data] {
                if let postgres {
                    var rows: [Int64: Data] = [:]
                    for try await (face, sealed) in try await postgres.client.query(
                        "SELECT face_id, sealed FROM face_photos WHERE company_id = \(owner.companyID)", logger: postgres.logger
                    ).decode((Int64, Data).self) { rows[face] = sealed }
                    return rows
                }
                let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
                return Dictionary(uniqueKeysWithValues: files.compactMap { file in
                    Int64(file.dropLast(7)).map { ($0, FileManager.default.contents(atPath: folder + "/" + file) ?? Data()) }
                })
            }
            let sealed = try await keptPhotos()
            #expect(Array(sealed.keys) == [faceID])
            let stored = try #require(FileManager.default.contents(atPath: photos[1]))
            #expect(sealed[faceID].map { $0.range(of: stored.subdata(in: 0..<64)) == nil && $0.range(of: stored.subdata(in: 2000..<2064)) == nil } == true)
            #expect(try await client.call(.delete, "/persons/\(personID)", as: owner.caller).status == .ok)
            #expect(try await keptPhotos().isEmpty)
            expectError(try await client.call(.get, "/faces/\(faceID)/image", as: owner.caller), .notFound, "not_found")

            // Turning store_images off deletes the photos kept so far.
            let third = try await Self.enroll(client, owner.caller, photos[2], ["full_name": "Third " + name, "allow_duplicate": true])
            let thirdFace = try #require((third["face_id"] as? NSNumber)?.int64Value)
            #expect(try await client.call(.get, "/faces/\(thirdFace)/image", as: owner.caller).status == .ok)
            _ = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["store_images": false]))
            expectError(try await client.call(.get, "/faces/\(thirdFace)/image", as: owner.caller), .notFound, "image_not_stored")
            #expect(try await keptPhotos().isEmpty)
            guard postgres == nil else { return }  // PostgreSQL's rows go with their faces: nothing is left to sweep
            #expect(!FileManager.default.fileExists(atPath: folder))
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)

            // A photo whose face is gone (a crash before the delete was applied) is swept at start.
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: folder + "/999999.sealed"))
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: folder + "/\(plainFace).sealed"))
            #expect(try await server.services.index.images.sweepPhotos(server.services.store) == 1)
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["\(plainFace).sealed"])
        }
    }

    @Test func largePhotosAreFirstSearchedWithoutUpsampling() async throws {
        let server = try await TestServer()
        let folder = Self.examples + "/faces"
        for file in ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() where file.hasSuffix(".jpg") {
            let data = try #require(FileManager.default.contents(atPath: folder + "/" + file))
            let analysis = try await server.services.faces.analyze(data)
            let size = try #require(ImageHeader.size(of: data), "\(file)")
            // (A photo the engine only finds faces in turned reports the turned size.)
            #expect([size.width, size.height].sorted() == [analysis.width, analysis.height].sorted(),
                    "\(file): \(size) vs \(analysis.width)×\(analysis.height)")
            if min(size.width, size.height) >= FaceEngineProvider.quickDetectionMinSide {
                #expect(!analysis.faces.isEmpty, "\(file)")
            }
        }
        #expect(ImageHeader.size(of: Data("not an image".utf8)) == nil)
    }

    @Test func anotherCompanyNeverSeesTheseFaces() async throws {
        try await TestServer().run { client in
            let a = try await client.register("Acme")
            let (name, photos) = Self.johns[0]
            #expect(try await Self.enroll(client, a.caller, photos[0], ["full_name": name]).status == .created)
            let b = try await client.register("Bravo")
            let reply = try await Self.search(client, b.caller, photos[1])
            #expect(reply["decision"] as? String == "unknown")
            #expect(!reply.text.contains(name))
            // B may enroll the same face for its own person: the duplicate guard is per company.
            #expect(try await Self.enroll(client, b.caller, photos[1], ["full_name": "Own"]).status == .created)
        }
    }
}
