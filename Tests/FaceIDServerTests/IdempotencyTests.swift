import Foundation
import HTTPTypes
import Testing

@testable import FaceIDServer

/// `Idempotency-Key` on enroll, import, face delete and the kiosk's upload and delete: a retry gets the first answer and
/// changes nothing; a claim whose request died is taken over, and the dead request can no longer apply.
@Suite("Idempotency keys")
struct IdempotencyTests {
    static func key(_ value: String) -> HTTPFields { [HTTPField.Name("Idempotency-Key")!: value] }

    @Test func aRetryGetsTheFirstAnswerAndChangesNothing() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let body = FacesTests.importBody([["external_id": "E-1", "full_name": "Ada", "encoding": FacesTests.encoding(1)]])
            let first = try await client.call(.post, "/faces/import", as: owner.caller, json: body, headers: Self.key("import-1"))
            #expect(first.status == .created, "\(first.text)")
            #expect(first.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
            let again = try await client.call(.post, "/faces/import", as: owner.caller, json: body, headers: Self.key("import-1"))
            #expect(again.status == .created && again.data == first.data)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(again.headers[.contentType] == first.headers[.contentType])
            let faceID = try #require((first["face_ids"] as? [NSNumber])?.first?.int64Value)
            let personID = try #require((first["person_ids"] as? [NSNumber])?.first?.int64Value)
            let faces = try await client.call(.get, "/persons/\(personID)/faces", as: owner.caller)
            #expect((faces["faces"] as? [[String: Any]])?.count == 1)
            // The same key with another request: refused, nothing written.
            let other = FacesTests.importBody([["external_id": "E-2", "encoding": FacesTests.encoding(2)]])
            expectError(try await client.call(.post, "/faces/import", as: owner.caller, json: other, headers: Self.key("import-1")),
                        .unprocessableContent, "idempotency_key_reused")
            expectError(try await client.call(.post, "/faces/import", as: owner.caller, json: other, headers: Self.key("bad key")),
                        .badRequest, "invalid_idempotency_key")
            #expect((try await client.call(.get, "/persons?external_id=E-2", as: owner.caller)["persons"] as? [Any])?.isEmpty == true)
            // Another company's same key is its own.
            let bravo = try await client.register("Bravo")
            let theirs = try await client.call(.post, "/faces/import", as: bravo.caller, json: body, headers: Self.key("import-1"))
            #expect(theirs.status == .created && theirs.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)

            // A delete retried after its answer was lost: 204 again, not 404.
            #expect(try await client.call(.delete, "/faces/\(faceID)", as: owner.caller, headers: Self.key("delete-1")).status == .noContent)
            let deletedAgain = try await client.call(.delete, "/faces/\(faceID)", as: owner.caller, headers: Self.key("delete-1"))
            #expect(deletedAgain.status == .noContent && deletedAgain.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            expectError(try await client.call(.delete, "/faces/\(faceID)", as: owner.caller), .notFound, "not_found")
            // A refusal frees the key: the retry runs (and is refused again, as nothing changed).
            expectError(try await client.call(.delete, "/faces/999999", as: owner.caller, headers: Self.key("delete-2")), .notFound, "not_found")
            expectError(try await client.call(.delete, "/faces/999999", as: owner.caller, headers: Self.key("delete-2")), .notFound, "not_found")

            // The kiosk's upload: one face, the same registration time.
            let kiosk = try await KioskSyncTests.kiosk(client, owner, "Gate 1")
            let employee = try await KioskSyncTests.employee(client, owner, "Ana", "TK-1")
            var headers = kiosk.headers
            headers[HTTPField.Name("Idempotency-Key")!] = "upload-1"
            let upload: [String: Any] = ["face_encoding": FacesTests.encoding(5)]
            let uploaded = try await client.call(.post, "/api/employees/\(employee)/face/", as: kiosk.caller, json: JSON(upload), headers: headers)
            #expect(uploaded.status == .ok, "\(uploaded.text)")
            let uploadedAgain = try await client.call(.post, "/api/employees/\(employee)/face/", as: kiosk.caller, json: JSON(upload), headers: headers)
            #expect(uploadedAgain.data == uploaded.data)
            let employeeFaces = try await client.call(.get, "/persons/\(employee)/faces", as: owner.caller)
            #expect((employeeFaces["faces"] as? [[String: Any]])?.count == 1)
        }
    }

    /// The store's side, on both engines: a claim's life, a takeover, and a dead attempt that wakes up and cannot apply.
    @Test(arguments: StoreContractTests.engines)
    func aDeadClaimIsTakenOverAndItsRequestCannotApplyAnymore(engine: StoreContractTests.Engine) async throws {
        try await StoreContractTests.withStore(engine) { store in
            let (company, _, _) = try await StoreContractTests.register(store, "owner@acme.example")
            let companyID = company.id!
            let person = try await store.createPerson(StoreContractTests.person(companyID, "Ana"), groups: [], actor: "test",
                                                      origin: StoreContractTests.origin)
            let fingerprint = Idempotency.fingerprint(method: "POST", uri: "/faces/import", body: Data("[1]".utf8))
            let start = Date()
            guard case .claimed(let first) = try await store.claimIdempotencyKey(companyID: companyID, key: "k", fingerprint: fingerprint, now: start) else {
                Issue.record("the first claim")
                return
            }
            #expect(try await store.claimIdempotencyKey(companyID: companyID, key: "k", fingerprint: fingerprint, now: start + 1) == .inProgress)
            // The first request counts as dead after `staleAfter`: a retry takes the key over.
            guard case .claimed(let second) = try await store.claimIdempotencyKey(
                companyID: companyID, key: "k", fingerprint: fingerprint, now: start + Idempotency.staleAfter + 1) else {
                Issue.record("the takeover")
                return
            }
            #expect(first != second)
            let face = [Store.NewFace(person: .id(person.record.id!), encoding: StoreContractTests.vector(1))]
            func add(_ attempt: String) async throws -> [FaceRecord] {
                try await Idempotency.$current.withValue(Idempotency.Mark(companyID: companyID, key: "k", attempt: attempt)) {
                    try await store.addFaces(face, companyID: companyID, source: "import", reference: false,
                                             keyRing: StoreContractTests.keyRing, actor: "test", origin: StoreContractTests.origin)
                }
            }
            // The first request wakes up: its write is rolled back.
            await #expect(throws: StoreError.idempotencyTakenOver) { _ = try await add(first) }
            #expect(try await store.faces(personID: person.record.id!, companyID: companyID)?.isEmpty == true)
            _ = try await add(second)
            #expect(try await store.faces(personID: person.record.id!, companyID: companyID)?.count == 1)
            // Applied, its answer not yet stored (its node stopped): never run again, and a release does not free it.
            try await store.releaseIdempotencyKey(Idempotency.Mark(companyID: companyID, key: "k", attempt: second))
            let later = start + Idempotency.staleAfter * 3
            #expect(try await store.claimIdempotencyKey(companyID: companyID, key: "k", fingerprint: fingerprint, now: later) == .appliedWithoutAnswer)
            try await store.finishIdempotencyKey(Idempotency.Mark(companyID: companyID, key: "k", attempt: second), status: 201,
                                                 contentType: "application/json", body: Data("{}".utf8))
            #expect(try await store.claimIdempotencyKey(companyID: companyID, key: "k", fingerprint: fingerprint, now: later)
                    == .replay(status: 201, contentType: "application/json", body: Data("{}".utf8)))
            #expect(try await store.claimIdempotencyKey(companyID: companyID, key: "k", fingerprint: Data([1]), now: later) == .mismatch)
            try await store.purgeIdempotencyKeys(claimedBefore: later + 1)
            guard case .claimed = try await store.claimIdempotencyKey(companyID: companyID, key: "k", fingerprint: fingerprint, now: later) else {
                Issue.record("a purged key is new again")
                return
            }
        }
    }
}
