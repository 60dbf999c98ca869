import Foundation
import HTTPTypes
import Testing

@testable import FaceIDServer

/// Consent (recorded per person; `require_consent` refuses enrollment, imports and kiosk uploads without one) and
/// subject access (`GET /persons/{id}/export`).
@Suite("Privacy: consent and subject access")
struct PrivacyTests {
    static func consent(_ client: Client, _ tenant: Tenant, _ person: Int64, as caller: Caller? = nil) async throws -> Reply {
        try await client.call(.put, "/persons/\(person)/consent", as: caller ?? tenant.caller, json: JSON([
            "obtained_at": "2026-11-30T09:00:00Z", "method": "written", "document_version": "BIO-2026-1",
        ]))
    }

    static func importFace(_ client: Client, _ tenant: Tenant, _ reference: [String: Any], seed: Int) async throws -> Reply {
        var item = reference
        item["encoding"] = KioskSyncTests.encoding(seed)
        return try await client.call(.post, "/faces/import", as: tenant.caller, json: "[\(JSON(item))]")
    }

    @Test func requireConsentRefusesEveryWayInUntilConsentIsRecorded() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Consent Co")
            let kiosk = try await KioskSyncTests.kiosk(client, tenant, "Gate A")
            let employee = try await KioskSyncTests.employee(client, tenant, "Ana Reyes", "TK-1")
            let person = try #require((try await client.call(.post, "/persons", as: tenant.caller, json: JSON(["full_name": "John"]))
                .object("person")["id"] as? NSNumber)?.int64Value)
            let photo = try #require(RecognitionTests.johns.first?.1.first, "libdlib19.1's johns photos are missing")
            // Off (the default): the kiosk contract answers as it always did, without any consent.
            let before = try await KioskSyncTests.upload(client, kiosk, employee, ["face_encoding": KioskSyncTests.encodingText(KioskSyncTests.encoding(1))])
            #expect(before.status == .ok, "\(before.text)")

            let on = try await client.call(.patch, "/settings", as: tenant.caller, json: JSON(["require_consent": true]))
            #expect(on.object("settings")["require_consent"] as? Bool == true, "\(on.text)")
            // Refused: a kiosk upload, a photo enrollment (existing and new person), imports (by id, by a new external id).
            let upload = try await KioskSyncTests.upload(client, kiosk, employee, ["face_encoding": KioskSyncTests.encodingText(KioskSyncTests.encoding(2))])
            expectError(upload, .conflict, "consent_required")
            #expect((upload["person_id"] as? NSNumber)?.int64Value == employee)
            expectError(try await RecognitionTests.enroll(client, tenant.caller, photo, ["person_id": person]), .conflict, "consent_required")
            expectError(try await RecognitionTests.enroll(client, tenant.caller, photo, ["full_name": "New Person"]), .conflict, "consent_required")
            expectError(try await Self.importFace(client, tenant, ["person_id": person], seed: 3), .conflict, "consent_required")
            expectError(try await Self.importFace(client, tenant, ["external_id": "NEW-1", "full_name": "New"], seed: 4), .conflict, "consent_required")
            // An unknown person is still a 404, not a consent question.
            let unknown = try await client.call(.post, "/face/enroll", as: tenant.caller,
                                                json: JSON(["person_id": 999_999, "image": RecognitionTests.image(photo)]))
            expectError(unknown, .notFound, "not_found")
            // Nothing was stored by the refusals.
            let faces = try #require(try await client.call(.get, "/persons/\(person)/faces", as: tenant.caller)["faces"] as? [Any])
            #expect(faces.isEmpty)

            // Consent recorded → each succeeds.
            let recorded = try await Self.consent(client, tenant, person)
            #expect(recorded.status == .ok, "\(recorded.text)")
            #expect(recorded.object("consent")["method"] as? String == "written")
            #expect(recorded.object("consent")["recorded_by"] as? String == "user:\(tenant.ownerID)")
            #expect(try await RecognitionTests.enroll(client, tenant.caller, photo, ["person_id": person]).status == .created)
            #expect(try await Self.importFace(client, tenant, ["person_id": person], seed: 5).status == .created)
            #expect(try await Self.consent(client, tenant, employee).status == .ok)
            let after = try await KioskSyncTests.upload(client, kiosk, employee, ["face_encoding": KioskSyncTests.encodingText(KioskSyncTests.encoding(6))])
            #expect(after.status == .ok, "\(after.text)")

            // Withdrawn → refused again; the audit has both.
            #expect(try await client.call(.delete, "/persons/\(person)/consent", as: tenant.caller).status == .noContent)
            expectError(try await Self.importFace(client, tenant, ["person_id": person], seed: 7), .conflict, "consent_required")
            expectError(try await client.call(.delete, "/persons/\(person)/consent", as: tenant.caller), .notFound, "not_found")
            let shown = try await client.call(.get, "/persons/\(person)/consent", as: tenant.caller)
            #expect(shown["consent"] == nil && shown.status == .ok)
            let events = try #require(try await client.call(.get, "/audit?target=person:\(person)", as: tenant.caller)["events"] as? [[String: Any]])
            #expect(events.compactMap { $0["action"] as? String }.filter { $0.hasPrefix("person.consent") }
                    == ["person.consent_withdrawn", "person.consent"])
        }
    }

    @Test func consentInputIsCheckedAndTheMatrixHolds() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Consent Input Co")
            let person = try #require((try await client.call(.post, "/persons", as: tenant.caller, json: JSON(["full_name": "P"]))
                .object("person")["id"] as? NSNumber)?.int64Value)
            let valid: [String: Any] = ["obtained_at": "2026-11-30T09:00:00Z", "method": "electronic", "document_version": "v1"]
            for (change, field) in [(["method": "verbal"], "method"), (["obtained_at": "yesterday"], "obtained_at"),
                                    (["obtained_at": "2999-01-01T00:00:00Z"], "obtained_at"), (["document_version": "  "], "document_version")] {
                let body = valid.merging(change) { $1 }
                let reply = try await client.call(.put, "/persons/\(person)/consent", as: tenant.caller, json: JSON(body))
                expectError(reply, .badRequest, "invalid_field")
                #expect(reply.text.contains(field), "\(reply.text)")
            }
            expectError(try await client.call(.put, "/persons/\(person)/consent", as: tenant.caller, json: JSON(["method": "written"])),
                        .badRequest, "missing_field")
            expectError(try await client.call(.put, "/persons/999999/consent", as: tenant.caller, json: JSON(valid)), .notFound, "not_found")
            expectError(try await client.call(.get, "/persons/999999/export", as: tenant.caller), .notFound, "not_found")
            // Staff records consent (they enroll); a viewer does not; neither exports.
            let staff = try await client.user(.staff, in: tenant)
            let viewer = try await client.user(.viewer, in: tenant)
            #expect(try await Self.consent(client, tenant, person, as: .token(staff.token)).status == .ok)
            expectError(try await Self.consent(client, tenant, person, as: .token(viewer.token)), .forbidden, "forbidden")
            for caller in [Caller.token(staff.token), .token(viewer.token)] {
                expectError(try await client.call(.get, "/persons/\(person)/export", as: caller), .forbidden, "forbidden")
            }
            #expect(try await client.call(.get, "/persons/\(person)/consent", as: .token(viewer.token)).status == .ok)
        }
    }

    @Test func theExportHoldsExactlyThePersonsDataAndNoEmbedding() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Export Co")
            let other = try await client.register("Other Export Co")
            let imported = try await Self.importFace(client, tenant, ["external_id": "E-1", "full_name": "Ana Reyes"], seed: 11)
            let person = try #require(((imported["person_ids"] as? [NSNumber])?.first)?.int64Value)
            let face = try #require(((imported["face_ids"] as? [NSNumber])?.first)?.int64Value)
            _ = try await Self.importFace(client, tenant, ["external_id": "E-2", "full_name": "Ben Cruz"], seed: 12)
            _ = try await Self.importFace(client, other, ["external_id": "E-1", "full_name": "Ana Elsewhere"], seed: 11)
            #expect(try await Self.consent(client, tenant, person).status == .ok)
            // Two searches that find Ana, one that finds Ben, one in the other company.
            for (caller, seed) in [(tenant.caller, 11), (tenant.caller, 11), (tenant.caller, 12), (other.caller, 11)] {
                let found = try await client.call(.post, "/face/search/encoding", as: caller, json: JSON([
                    "encoding": KioskSyncTests.encoding(seed), "model": "dlib-resnet-v1", "location": "Gate \(seed)",
                ]))
                #expect(found.status == .ok, "\(found.text)")
            }
            let export = try await client.call(.get, "/persons/\(person)/export", as: tenant.caller)
            #expect(export.status == .ok, "\(export.text)")
            #expect(export.object("person")["full_name"] as? String == "Ana Reyes")
            #expect(export.object("consent")["document_version"] as? String == "BIO-2026-1")
            let faces = try #require(export["faces"] as? [[String: Any]])
            #expect(faces.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [face])
            let entries = try #require(export["access_log"] as? [[String: Any]])
            #expect(entries.count == 2)
            #expect(entries.allSatisfy { ($0["person_id"] as? NSNumber)?.int64Value == person && $0["location"] as? String == "Gate 11" })
            let audit = try #require(export["audit"] as? [[String: Any]])
            let targets = Set(audit.compactMap { $0["target"] as? String })
            #expect(targets == ["person:\(person)", "face:\(face)"], "\(targets)")
            #expect(audit.compactMap { $0["action"] as? String }.contains("person.consent"))
            // No embedding in any form: no such key, and no array of 128 numbers.
            for key in ["encoding", "embedding", "encodings", "embeddings", "vector"] { #expect(!export.text.contains("\"\(key)\"")) }
            #expect(!export.text.contains(String(KioskSyncTests.encoding(11)[0]).prefix(8)))
            // The export itself is audited, with what it held.
            let events = try #require(try await client.call(.get, "/audit?action=person.export", as: tenant.caller)["events"] as? [[String: Any]])
            #expect(events.count == 1)
            #expect((events.first?["detail"] as? [String: String])?["access_entries"] == "2")
            // Past one page of the log (500), every entry is there once.
            let now = Int64(Date().timeIntervalSince1970 * 1e6)
            for index in 0..<600 {
                try await server.services.store.appendAccess(AccessRecord(
                    id: nil, companyID: tenant.companyID, atMicros: now + Int64(index), actor: "api_key:1", deviceID: nil, location: "Bulk",
                    probeSHA256: "", decision: "unknown", personID: person, distance: 0.7, faceCount: 1, latencyMs: 1), retentionDays: 365)
            }
            let long = try #require(try await client.call(.get, "/persons/\(person)/export", as: tenant.caller)["access_log"] as? [[String: Any]])
            #expect(long.count == 602)
            #expect(Set(long.compactMap { ($0["id"] as? NSNumber)?.int64Value }).count == 602)
        }
    }

    @Test func deletingAPersonAnswersWhatWasDestroyedAndWhichKiosksHaveIt() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Erasure Co")
            _ = try await client.call(.patch, "/settings", as: tenant.caller, json: JSON(["store_images": true]))
            let device = try await client.device("Gate 3", in: tenant)
            let photo = try #require(RecognitionTests.johns.first?.1.first, "libdlib19.1's johns photos are missing")
            let enrolled = try await RecognitionTests.enroll(client, tenant.caller, photo, ["full_name": "John"])
            #expect(enrolled.status == .created, "\(enrolled.text)")
            let person = try #require((enrolled.object("person")["id"] as? NSNumber)?.int64Value)
            let photoFace = try #require((enrolled["face_id"] as? NSNumber)?.int64Value)
            #expect(try await Self.importFace(client, tenant, ["person_id": person], seed: 21).status == .created)
            #expect(try await client.call(.put, "/persons/\(person)/consent", as: tenant.caller, json: JSON([
                "obtained_at": "2026-11-30T09:00:00Z", "method": "written", "document_version": "v1"])).status == .ok)
            #expect(try await client.call(.get, "/faces/\(photoFace)/image", as: tenant.caller).status == .ok)

            let erased = try await client.call(.delete, "/persons/\(person)", as: tenant.caller)
            #expect(erased.status == .ok, "\(erased.text)")
            let destroyed = erased.object("destroyed"), remaining = erased.object("remaining")
            #expect(destroyed["faces"] as? Int == 2 && destroyed["photos"] as? Int == 1, "\(erased.text)")
            // Every face is in at least one collection; the photo face in both models' collections.
            #expect((destroyed["index_entries"] as? Int ?? 0) >= 3, "\(erased.text)")
            #expect(remaining["faces"] as? Int == 0 && remaining["photos"] as? Int == 0 && remaining["index_entries"] as? Int == 0)
            #expect((erased.object("kiosks")["pending"] as? [NSNumber])?.map(\.int64Value) == [device])
            #expect((erased.object("kiosks")["feed_position"] as? Int ?? 0) > 0)
            // And it is so: the faces, the photo and the consent are gone.
            expectError(try await client.call(.get, "/faces/\(photoFace)", as: tenant.caller), .notFound, "not_found")
            expectError(try await client.call(.get, "/faces/\(photoFace)/image", as: tenant.caller), .notFound, "not_found")
            expectError(try await client.call(.get, "/persons/\(person)/consent", as: tenant.caller), .notFound, "not_found")
            #expect(try await server.services.store.consents(personIDs: [person], companyID: tenant.companyID).isEmpty)
            expectError(try await client.call(.delete, "/persons/\(person)", as: tenant.caller), .notFound, "not_found")
        }
    }

    @Test func theRetentionScheduleDestroysIdleFacesAndKeepsRecentOnes() async throws {
        // A whole second: C's match on day 29 lands exactly 30 days before its destruction, the window's edge, and a
        // sub-microsecond fraction would be truncated in the access log but rounded in a PostgreSQL parameter.
        let clock = ServerClock.manual(start: Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)))
        let server = try await TestServer(clock: clock)
        try await server.run { client in
            let tenant = try await client.register("Retention Co")
            for bad in [0, 1096] {
                expectError(try await client.call(.patch, "/settings", as: tenant.caller, json: JSON(["biometric_retention_days": bad])),
                            .badRequest, "invalid_field")
            }
            let set = try await client.call(.patch, "/settings", as: tenant.caller, json: JSON(["biometric_retention_days": 30, "store_images": true]))
            #expect(set.object("settings")["biometric_retention_days"] as? Int == 30, "\(set.text)")
            // A: an employee with a kiosk face; B: a photo enrollment (a stored photo); C: an import, matched on day 29.
            let kiosk = try await KioskSyncTests.kiosk(client, tenant, "Gate A")
            let a = try await KioskSyncTests.employee(client, tenant, "Ana", "TK-1")
            #expect(try await KioskSyncTests.upload(client, kiosk, a, ["face_encoding": KioskSyncTests.encodingText(KioskSyncTests.encoding(31))]).status == .ok)
            let photo = try #require(RecognitionTests.johns.first?.1.first, "libdlib19.1's johns photos are missing")
            let enrolled = try await RecognitionTests.enroll(client, tenant.caller, photo, ["full_name": "Ben"])
            let b = try #require((enrolled.object("person")["id"] as? NSNumber)?.int64Value)
            let bFace = try #require((enrolled["face_id"] as? NSNumber)?.int64Value)
            let imported = try await Self.importFace(client, tenant, ["external_id": "C-1", "full_name": "Cruz"], seed: 33)
            let c = try #require(((imported["person_ids"] as? [NSNumber])?.first)?.int64Value)
            // Viewers and staff are refused the schedule.
            for role in [Role.viewer, .staff] {
                let user = try await client.user(role, in: tenant)
                expectError(try await client.call(.get, "/privacy/retention", as: .token(user.token)), .forbidden, "forbidden")
            }
            // Sessions do not live a month: an admin key from here on.
            let admin = Caller.apiKey(try await client.apiKey([.admin], in: tenant).key)

            clock.advance(by: .seconds(29 * 86_400))
            let matched = try await client.call(.post, "/face/search/encoding", as: admin,
                                                json: JSON(["encoding": KioskSyncTests.encoding(33), "model": "dlib-resnet-v1"]))
            #expect(matched["decision"] as? String == "match", "\(matched.text)")
            // Day 29: nothing is due yet; A and B are due tomorrow, C (just matched) in 30 days.
            #expect(try await server.services.biometricRetention.sweep() == 0)
            let soon = try await client.call(.get, "/privacy/retention", as: admin)
            #expect(soon["due_within_30_days"] as? Int == 2, "\(soon.status) \(soon.text)")
            let dueSoon = try #require(soon["persons"] as? [[String: Any]])
            #expect(dueSoon.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [a, b])

            clock.advance(by: .seconds(2 * 86_400))
            #expect(try await server.services.biometricRetention.sweep() == 2)
            let faces = { (person: Int64) async throws -> Int in
                (try await client.call(.get, "/persons/\(person)/faces", as: admin)["faces"] as? [Any])?.count ?? -1
            }
            let (left, right, kept) = (try await faces(a), try await faces(b), try await faces(c))
            #expect(left == 0 && right == 0 && kept == 1)
            // The photo and the index entries went with the faces; the persons stay.
            #expect(try await server.services.index.images.photoCount(companyID: tenant.companyID, faceIDs: [bFace]) == 0)
            #expect(try server.services.index.entries(tenant.companyID, faceIDs: [bFace]) == 0)
            #expect(try await client.call(.get, "/persons/\(b)", as: admin).status == .ok)
            // The kiosks are told: A's propagation report shows the deletion as the latest change.
            let report = try await client.call(.get, "/api/employees/\(a)/face/propagation", as: admin)
            #expect(report["state"] as? String == "no_face", "\(report.text)")
            #expect((report["pending"] as? [NSNumber])?.map(\.int64Value) == [kiosk.device!])
            // Audited once, with the count.
            let events = try #require(try await client.call(.get, "/audit?action=face.retention_delete", as: admin)["events"] as? [[String: Any]])
            #expect(events.count == 1)
            #expect((events.first?["detail"] as? [String: String])?["faces_deleted"] == "2")
            #expect(events.first?["actor"] as? String == "system:retention")
            // What is due next: C, 30 days after the match.
            let next = try await client.call(.get, "/privacy/retention", as: admin)
            let due = try #require(next["persons"] as? [[String: Any]])
            #expect(due.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [c], "\(next.text)")
            #expect(next["biometric_retention_days"] as? Int == 30)
            // A second sweep finds nothing.
            #expect(try await server.services.biometricRetention.sweep() == 0)
        }
    }
}
