import CompressNIO
import Foundation
import GRDB
import HTTPTypes
import NIOCore
import NIOFoundationCompat
import Testing

@testable import FaceIDServer

/// The timekeeper desktop app's checklist, the delta feed, acknowledgements and the sync rate limits.
@Suite("Timekeeper kiosk sync")
struct KioskSyncTests {
    static func encoding(_ seed: Int) -> [Double] {
        (0..<128).map { index in sin(Double(seed * 131 + index) * 0.7) * 0.09 }
    }

    /// What the desktop app sends: a JSON string holding the array.
    static func encodingText(_ values: [Double]) -> String {
        "[" + values.map { "\($0)" }.joined(separator: ", ") + "]"
    }

    /// The numbers of an encoding text, parsed exactly (`JSONSerialization` on Linux may round the last digit).
    static func parse(_ text: String?) -> [Double]? {
        guard let text, text.hasPrefix("["), text.hasSuffix("]") else { return nil }
        let numbers = text.dropFirst().dropLast().split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        return numbers.contains(nil) ? nil : numbers.compactMap { $0 }
    }

    static func array(_ reply: Reply) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: reply.data)) as? [[String: Any]] ?? []
    }

    static func id(_ value: Any?) -> Int64? { (value as? NSNumber)?.int64Value }

    /// A kiosk: its credential and device.
    struct Kiosk {
        var caller: Caller
        var device: Int64?
        var headers: HTTPFields { TestServer.kioskHeaders(device: device) }
    }

    static func kiosk(_ client: Client, _ tenant: Tenant, _ name: String) async throws -> Kiosk {
        let key = try await client.apiKey([.kiosk], in: tenant, name: name)
        return Kiosk(caller: .apiKey(key.key), device: try await client.device(name, in: tenant))
    }

    static func employee(_ client: Client, _ tenant: Tenant, _ name: String, _ timekeeperID: String) async throws -> Int64 {
        let reply = try await client.call(.post, "/api/employees/", as: tenant.caller, json: JSON(["name": name, "timekeeper_id": timekeeperID]))
        try #require(reply.status == .created, "\(reply.text)")
        return try #require(id(reply.object("employee")["id"]))
    }

    static func upload(_ client: Client, _ kiosk: Kiosk, _ employee: Int64, _ body: [String: Any]) async throws -> Reply {
        try await client.call(.post, "/api/employees/\(employee)/face/", as: kiosk.caller, json: JSON(body), headers: kiosk.headers)
    }

    static func list(_ client: Client, _ kiosk: Kiosk, _ query: String) async throws -> Reply {
        try await client.call(.get, "/api/employees/timekeeper/?" + query, as: kiosk.caller, headers: kiosk.headers)
    }

    @Test func encodingsAreWrittenAsTheShortestTextOfTheirFloat64() {
        // What face_recognition (Python's repr) writes, digit for digit; a float32 value from a photo is exact too.
        #expect(KioskJSON.encodingText([-0.08781787753105164, 0.123456789, -0.05, 0, 1e-05, 1.5, -0.25])
                == "[-0.08781787753105164, 0.123456789, -0.05, 0.0, 1e-05, 1.5, -0.25]")
        #expect(KioskJSON.encodingText([Double(Float(0.1))]) == "[0.10000000149011612]")
        var out: [UInt8] = []
        KioskJSON.string("Dela Cruz, \"Juan\"\\\n", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""Dela Cruz, \"Juan\"\\\u000a""#)
    }

    @Test func theDesktopTeamsChecklist() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let kiosk = try await Self.kiosk(client, owner, "Gate A")
            let juan = try await Self.employee(client, owner, "Dela Cruz, Juan", "TK-001")
            let values = Self.encoding(1)

            // Valid upload → 200, stored, searchable.
            let ok = try await Self.upload(client, kiosk, juan, ["face_encoding": Self.encodingText(values)])
            #expect(ok.status == .ok, "\(ok.text)")
            #expect(ok["success"] as? Bool == true && Self.id(ok["employee_id"]) == juan)
            #expect(ok["message"] as? String == "Face encoding registered successfully")
            let registeredAt = try #require(ok["registered_at"] as? String)
            #expect(registeredAt.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/) != nil, "\(registeredAt)")
            let shown = try await client.call(.get, "/api/employees/\(juan)/", as: owner.caller)
            #expect(shown.object("employee")["has_face_registration"] as? Bool == true)
            #expect(shown.object("employee")["face_registered_at"] as? String == registeredAt)
            let faces = try #require(try await client.call(.get, "/persons/\(juan)/faces", as: owner.caller)["faces"] as? [[String: Any]])
            #expect(faces.map { $0["source"] as? String } == ["kiosk"])
            let hit = try server.services.index.search(owner.companyID, encoding: values.map(Float.init), k: 1).first
            #expect(hit.map { Int64($0.id) } == Self.id(faces[0]["id"]) && (hit?.distance ?? 1) < 1e-3)
            // A plain array is accepted too, and replaces the kiosk face.
            #expect(try await Self.upload(client, kiosk, juan, ["face_encoding": Self.encoding(2)]).status == .ok)
            #expect((try await client.call(.get, "/persons/\(juan)/faces", as: owner.caller)["faces"] as? [[String: Any]])?.count == 1)

            // 400 for invalid JSON, 127 and 129 values, non-numbers, NaN, Infinity, a missing field.
            let invalid: [String] = [
                "{not json", JSON(["face_encoding": Self.encodingText(Array(values.prefix(127)))]),
                JSON(["face_encoding": Self.encodingText(values + [0.1])]),
                JSON(["face_encoding": Self.encodingText(Array(values.prefix(127))).dropLast() + ", \"x\"]"]),
                JSON(["face_encoding": Self.encodingText(Array(values.prefix(127))).dropLast() + ", NaN]"]),
                JSON(["face_encoding": Self.encodingText(Array(values.prefix(127))).dropLast() + ", Infinity]"]),
                JSON(["face_encoding": "not a list"]), JSON(["face_encoding": 5]), JSON(["encoding": Self.encodingText(values)]),
                JSON(["face_encoding": Self.encodingText(Array(values.prefix(127)) + [1e30])]),
            ]
            for body in invalid {
                let reply = try await client.call(.post, "/api/employees/\(juan)/face/", as: kiosk.caller, json: body, headers: kiosk.headers)
                expectError(reply, .badRequest, "invalid_face_encoding")
                #expect(reply["error"] as? String == "Invalid face encoding format")
                #expect(reply["detail"] as? String == "Expected array of 128 float values")
            }
            // 404 unknown employee, 401 without credentials, 401 without or with a wrong app secret, 403 another company's.
            let unknown = try await Self.upload(client, kiosk, 987_654, ["face_encoding": Self.encodingText(values)])
            expectError(unknown, .notFound, "not_found")
            #expect(unknown["error"] as? String == "Employee not found")
            expectError(try await client.call(.post, "/api/employees/\(juan)/face/", json: JSON(["face_encoding": Self.encodingText(values)]),
                                              headers: kiosk.headers), .unauthorized, "missing_credentials")
            for secret in [nil, "wrong"] as [String?] {
                expectError(try await client.call(.post, "/api/employees/\(juan)/face/", as: kiosk.caller,
                                                  json: JSON(["face_encoding": Self.encodingText(values)]),
                                                  headers: TestServer.kioskHeaders(device: kiosk.device, secret: secret)),
                            .unauthorized, "invalid_app_secret")
            }
            let other = try await client.register("Bravo")
            let maria = try await Self.employee(client, other, "Santos, Maria", "TK-001")
            expectError(try await Self.upload(client, kiosk, maria, ["face_encoding": Self.encodingText(values)]), .forbidden, "forbidden")

            // include_faces=true carries the face; without it there are no face keys at all.
            let withFaces = Self.array(try await Self.list(client, kiosk, "include_faces=true"))
            #expect(withFaces.count == 1 && withFaces[0]["name"] as? String == "Dela Cruz, Juan" && withFaces[0]["timekeeper_id"] as? String == "TK-001")
            // The encoding comes back exactly as the kiosk sent it: the same float64 values, the same digits.
            let stored = try #require(Self.parse(withFaces[0]["face_encoding"] as? String))
            #expect(stored == Self.encoding(2))
            #expect(withFaces[0]["face_encoding"] as? String == Self.encodingText(Self.encoding(2)))
            for page in ["0", "9223372036854775807", "x"] {
                expectError(try await Self.list(client, kiosk, "page=\(page)"), .badRequest, "invalid_query")
            }
            let minimal = Self.array(try await Self.list(client, kiosk, ""))
            #expect(minimal.count == 1 && Set(minimal[0].keys) == ["id", "name", "timekeeper_id"])
            #expect(Set(Self.array(try await Self.list(client, kiosk, "include_faces=false"))[0].keys) == ["id", "name", "timekeeper_id"])

            // Delete → 200, fields nulled, gone from the index; again → 404.
            let deleted = try await client.call(.delete, "/api/employees/\(juan)/face/", as: kiosk.caller, headers: kiosk.headers)
            #expect(deleted.status == .ok && deleted["message"] as? String == "Face encoding deleted successfully", "\(deleted.text)")
            let nulled = Self.array(try await Self.list(client, kiosk, "include_faces=true"))[0]
            #expect(nulled["face_encoding"] is NSNull && nulled["face_registered_at"] is NSNull && nulled["has_face_registration"] as? Bool == false)
            #expect(try server.services.index.search(owner.companyID, encoding: Self.encoding(2).map(Float.init), k: 1).isEmpty)
            let again = try await client.call(.delete, "/api/employees/\(juan)/face/", as: kiosk.caller, headers: kiosk.headers)
            expectError(again, .notFound, "not_found")
            #expect(again["error"] as? String == "Employee not found or no face data to delete")

            // Audited with who, from where and which kiosk.
            let audit = try #require(try await client.call(.get, "/audit", as: owner.caller)["events"] as? [[String: Any]])
            let register = try #require(audit.first { $0["action"] as? String == "face.kiosk_register" })
            #expect((register["detail"] as? [String: Any])?["message"] as? String == "Face registered from Desktop Kiosk")
            #expect((register["detail"] as? [String: Any])?["device"] as? String == "device:\(kiosk.device!)")
            #expect((register["actor"] as? String)?.hasSuffix("|device:\(kiosk.device!)") == true)
            #expect(register["remote_address"] as? String == "198.51.100.1")
            #expect(audit.contains { ($0["detail"] as? [String: Any])?["message"] as? String == "Face data deleted from Desktop Kiosk" })
        }
    }

    @Test(TestServer.sqliteOnly) func aSecondKioskSeesTheFirstsUploadAndADeletedEmployeeIsATombstone() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let kioskA = try await Self.kiosk(client, owner, "Gate A")
            // The second kiosk signs in as a staff user: another credential and device.
            let staff = try await client.user(.staff, in: owner)
            let kioskB = Kiosk(caller: .token(staff.token), device: try await client.device("Gate B", in: owner))
            let ana = try await Self.employee(client, owner, "Reyes, Ana", "TK-7")
            let snapshot = try await client.call(.get, "/api/employees/timekeeper/changes/", as: kioskB.caller, headers: kioskB.headers)
            let cursor = try #require(snapshot["next_cursor"] as? String)
            // A snapshot page says how many employees there are (the kiosk's progress total); a delta page does not.
            #expect(snapshot.headers[HTTPField.Name("X-Total-Count")!] == "1")

            #expect(try await Self.upload(client, kioskA, ana, ["face_encoding": Self.encodingText(Self.encoding(7))]).status == .ok)
            let seen = Self.array(try await Self.list(client, kioskB, "include_faces=true"))
            #expect(zip(Self.parse(seen.first?["face_encoding"] as? String) ?? [], Self.encoding(7)).allSatisfy { abs($0 - $1) < 1e-6 })
            let delta = try await client.call(.get, "/api/employees/timekeeper/changes/?cursor=\(cursor)", as: kioskB.caller, headers: kioskB.headers)
            let upsert = try #require((delta["changes"] as? [[String: Any]])?.first)
            #expect(delta.headers[HTTPField.Name("X-Total-Count")!] == nil)
            #expect(upsert["op"] as? String == "upsert" && (upsert["employee"] as? [String: Any])?["has_face_registration"] as? Bool == true)

            // Employee deleted (resigned): encoding gone from store and index, a tombstone in the next delta.
            #expect(try await client.call(.delete, "/api/employees/\(ana)/", as: owner.caller).status == .noContent)
            #expect((try await client.call(.get, "/persons/\(ana)/faces", as: owner.caller)).status == .notFound)
            #expect(try await server.services.sqlite.pool.read { try FaceRecord.filter(Column("personID") == ana).fetchCount($0) } == 0)
            #expect(try server.services.index.search(owner.companyID, encoding: Self.encoding(7).map(Float.init), k: 1).isEmpty)
            #expect(Self.array(try await Self.list(client, kioskB, "include_faces=true")).isEmpty)
            let next = try #require(delta["next_cursor"] as? String)
            let tombstone = try await client.call(.get, "/api/employees/timekeeper/changes/?cursor=\(next)", as: kioskB.caller, headers: kioskB.headers)
            let changes = try #require(tombstone["changes"] as? [[String: Any]])
            #expect(changes.count == 1 && changes[0]["op"] as? String == "delete" && Self.id(changes[0]["employee_id"]) == ana, "\(tombstone.text)")
            let record = try await client.call(.get, "/api/employees/\(ana)/", as: owner.caller)
            #expect(record.object("employee")["active"] as? Bool == false && record.object("employee")["deleted_at"] is String)
        }
    }

    @Test func aHundredConcurrentUploadsAllLand() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let kiosk = try await Self.kiosk(client, owner, "Gate A")
            let rows = (1...100).map { ["name": "Employee \($0)", "timekeeper_id": "TK-\($0)"] }
            let body = String(decoding: try JSONSerialization.data(withJSONObject: rows), as: UTF8.self)
            let imported = try await client.call(.post, "/api/employees/import", as: owner.caller, json: body)
            #expect(imported["created"] as? Int == 100, "\(imported.text)")
            let ids = Self.array(try await Self.list(client, kiosk, "page_size=1000")).compactMap { Self.id($0["id"]) }
            try #require(ids.count == 100)
            let statuses = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for (index, id) in ids.enumerated() {
                    group.addTask {
                        let reply = try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(index))])
                        return (Int(reply.status.code), reply.text)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0.0 == 200 }, "\(statuses.filter { $0.0 != 200 }.prefix(3))")
            #expect(!statuses.contains { $0.1.contains("locked") })
            let all = Self.array(try await Self.list(client, kiosk, "include_faces=true&page_size=1000"))
            #expect(all.count == 100 && all.allSatisfy { $0["has_face_registration"] as? Bool == true })
            #expect(try server.services.index.collection(owner.companyID).count == 100)
            // "Max 100 registrations per minute per company": the 101st is refused, and stays refused while the first
            // hundred are inside the last minute — no refill lets a 101st through (a token bucket would after 0.6 s).
            let refused = try await Self.upload(client, kiosk, ids[0], ["face_encoding": Self.encodingText(Self.encoding(0))])
            expectError(refused, .tooManyRequests, "rate_limited")
            try await Task.sleep(for: .milliseconds(1500))
            let still = try await Self.upload(client, kiosk, ids[1], ["face_encoding": Self.encodingText(Self.encoding(1))])
            expectError(still, .tooManyRequests, "rate_limited")
            let retry = try #require(Int(still.headers[.retryAfter] ?? ""))
            #expect((1...60).contains(retry), "Retry-After \(retry)")
        }
    }

    /// A simulated kiosk applying the feed: employee id → (name, encoding text).
    struct Replica {
        var rows: [Int64: [String: String]] = [:]
        var cursor: String?

        mutating func sync(_ client: Client, _ kiosk: Kiosk, limit: Int) async throws {
            var more = true
            while more {
                let query = (cursor.map { "cursor=\($0)&" } ?? "") + "limit=\(limit)"
                let reply = try await client.call(.get, "/api/employees/timekeeper/changes/?" + query, as: kiosk.caller, headers: kiosk.headers)
                try #require(reply.status == .ok, "\(reply.text)")
                if cursor == nil { rows = [:] }  // a full sync replaces the local table
                for change in try #require(reply["changes"] as? [[String: Any]]) {
                    if change["op"] as? String == "delete" {
                        rows[try #require(KioskSyncTests.id(change["employee_id"]))] = nil
                    } else {
                        let employee = try #require(change["employee"] as? [String: Any])
                        rows[try #require(KioskSyncTests.id(employee["id"]))] = Replica.row(employee)
                    }
                }
                cursor = try #require(reply["next_cursor"] as? String)
                more = reply["has_more"] as? Bool == true
            }
        }

        static func row(_ employee: [String: Any]) -> [String: String] {
            ["name": employee["name"] as? String ?? "", "face": employee["face_encoding"] as? String ?? "-",
             "timekeeper_id": employee["timekeeper_id"] as? String ?? ""]
        }
    }

    @Test func deltaSyncConvergesAcknowledgesAndExpires() async throws {
        let clock = ServerClock.manual()
        let testServer = try await TestServer(clock: clock)
        try await testServer.run { client in
            let owner = try await client.register("Acme")
            let kioskA = try await Self.kiosk(client, owner, "Gate A")
            let kioskB = try await Self.kiosk(client, owner, "Gate B")
            var ids: [Int64] = []
            for n in 1...30 { ids.append(try await Self.employee(client, owner, "Worker \(n)", "TK-\(n)")) }
            var replica = Replica()
            try await replica.sync(client, kioskA, limit: 7)  // a paged snapshot
            #expect(replica.rows.count == 30)
            let early = try #require(replica.cursor)

            // Interleaved uploads, face deletions, employee deletions, renames, new employees — syncing in between.
            for (step, id) in ids.prefix(12).enumerated() {
                #expect(try await Self.upload(client, kioskB, id, ["face_encoding": Self.encodingText(Self.encoding(step))]).status == .ok)
                if step % 4 == 3 { try await replica.sync(client, kioskA, limit: 4) }
            }
            for id in ids[0..<3] {
                #expect(try await client.call(.delete, "/api/employees/\(id)/face/", as: kioskB.caller, headers: kioskB.headers).status == .ok)
            }
            try await replica.sync(client, kioskA, limit: 5)
            for id in ids[3..<5] { #expect(try await client.call(.delete, "/api/employees/\(id)/", as: owner.caller).status == .noContent) }
            for id in ids[5..<7] {
                #expect(try await client.call(.patch, "/api/employees/\(id)/", as: owner.caller, json: JSON(["name": "Renamed \(id)"])).status == .ok)
            }
            for n in 31...33 { ids.append(try await Self.employee(client, owner, "Worker \(n)", "TK-\(n)")) }
            #expect(try await Self.upload(client, kioskB, ids[31], ["face_encoding": Self.encodingText(Self.encoding(99))]).status == .ok)
            #expect(try await Self.upload(client, kioskB, ids[8], ["face_encoding": Self.encodingText(Self.encoding(98))]).status == .ok)
            try await replica.sync(client, kioskA, limit: 3)

            // The replica is exactly the server's list; so is a kiosk that pages through the full list.
            var server: [Int64: [String: String]] = [:]
            var page = 1
            while true {
                let reply = try await Self.list(client, kioskB, "include_faces=true&page_size=7&page=\(page)")
                for employee in Self.array(reply) { server[try #require(Self.id(employee["id"]))] = Replica.row(employee) }
                #expect(reply.headers[HTTPField.Name("X-Total-Count")!] == "31")
                guard let link = reply.headers[HTTPField.Name("Link")!] else { break }
                #expect(link.contains("page=\(page + 1)") && link.hasSuffix("rel=\"next\""))
                page += 1
            }
            #expect(page == 5)
            #expect(replica.rows == server)
            #expect(replica.rows[ids[3]] == nil && replica.rows[ids[0]]?["face"] == "-" && replica.rows[ids[5]]?["name"] == "Renamed \(ids[5])")

            // Acknowledgements: A applied everything, B nothing; the propagation report of a deleted employee says so.
            let ack = try await client.call(.post, "/api/devices/\(kioskA.device!)/ack", as: kioskA.caller,
                                            json: JSON(["cursor": replica.cursor!]), headers: kioskA.headers)
            #expect(ack.status == .ok && ack["acked_cursor"] as? String == replica.cursor, "\(ack.text)")
            let report = try await client.call(.get, "/api/employees/\(ids[3])/face/propagation", as: owner.caller)
            #expect(report["state"] as? String == "deleted", "\(report.text)")
            #expect((report["applied"] as? [NSNumber])?.map(\.int64Value) == [kioskA.device!])
            #expect((report["pending"] as? [NSNumber])?.map(\.int64Value) == [kioskB.device!])
            var replicaB = Replica()
            try await replicaB.sync(client, kioskB, limit: 50)
            _ = try await client.call(.post, "/api/devices/\(kioskB.device!)/ack", as: kioskB.caller, json: JSON(["cursor": replicaB.cursor!]),
                                      headers: kioskB.headers)
            let after = try await client.call(.get, "/api/employees/\(ids[3])/face/propagation", as: owner.caller)
            #expect((after["pending"] as? [Any])?.isEmpty == true && (after["applied"] as? [Any])?.count == 2)
            expectError(try await client.call(.post, "/api/devices/\(kioskA.device!)/ack", as: kioskA.caller, json: JSON(["cursor": "junk"]),
                                              headers: kioskA.headers), .badRequest, "invalid_field")

            // An unknown, another company's or purged cursor → 410; a full sync starts over.
            let other = try await client.register("Bravo")
            let otherKiosk = try await Self.kiosk(client, other, "Elsewhere")
            let foreign = try await client.call(.get, "/api/employees/timekeeper/changes/", as: otherKiosk.caller, headers: otherKiosk.headers)
            for cursor in ["junk", "ZC45OTkuMQ", try #require(foreign["next_cursor"] as? String)] {
                expectError(try await client.call(.get, "/api/employees/timekeeper/changes/?cursor=\(cursor)", as: kioskA.caller,
                                                  headers: kioskA.headers), .gone, "cursor_expired")
            }
            // Past `sync.tombstoneDays`, the retention sweep drops the feed's rows: their cursors expire.
            clock.advance(by: .seconds(Int64(testServer.configuration.tombstoneDays) * 86_400 + 60))
            try await testServer.services.retention.sweep()
            expectError(try await client.call(.get, "/api/employees/timekeeper/changes/?cursor=\(early)", as: kioskA.caller,
                                              headers: kioskA.headers), .gone, "cursor_expired")
            var fresh = Replica()
            try await fresh.sync(client, kioskA, limit: 100)
            #expect(fresh.rows == server)
            // A feed purged empty still hands out a cursor that works.
            let quiet = try await client.call(.get, "/api/employees/timekeeper/changes/?cursor=\(fresh.cursor!)", as: kioskA.caller,
                                              headers: kioskA.headers)
            #expect(quiet.status == .ok && (quiet["changes"] as? [Any])?.isEmpty == true, "\(quiet.text)")

            // A kiosk acknowledges for itself only, and never past the end of the feed.
            expectError(try await client.call(.post, "/api/devices/\(kioskB.device!)/ack", as: kioskA.caller, json: JSON(["cursor": fresh.cursor!]),
                                              headers: kioskA.headers), .forbidden, "forbidden")
            expectError(try await client.call(.post, "/api/devices/\(kioskA.device!)/ack", as: kioskA.caller, json: JSON(["cursor": fresh.cursor!]),
                                              headers: TestServer.kioskHeaders()), .badRequest, "device_required")
            for query in ["limit=0", "limit=1001", "limit=many"] {
                expectError(try await client.call(.get, "/api/employees/timekeeper/changes/?" + query, as: kioskA.caller, headers: kioskA.headers),
                            .badRequest, "invalid_query")
            }
            let beyond = SyncCursor.delta(companyID: owner.companyID, seq: 1_000_000).text
            expectError(try await client.call(.post, "/api/devices/\(kioskA.device!)/ack", as: kioskA.caller, json: JSON(["cursor": beyond]),
                                              headers: kioskA.headers), .badRequest, "invalid_field")
        }
    }

    @Test func onlyEmployeesReachKiosksAndImportsReinstate() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let kiosk = try await Self.kiosk(client, owner, "Gate A")
            let visitor = try await client.call(.post, "/persons", as: owner.caller, json: JSON(["full_name": "A visitor"]))
            let visitorID = try #require(Self.id(visitor.object("person")["id"]))
            let id = try await Self.employee(client, owner, "Cruz, Pedro", "TK-9")
            let list = try await Self.list(client, kiosk, "include_faces=true")
            #expect(Self.array(list).compactMap { Self.id($0["id"]) } == [id])
            #expect(list.headers[HTTPField.Name("X-Total-Count")!] == "1" && list.headers[HTTPField.Name("X-Sync-Cursor")!] != nil)
            expectError(try await Self.upload(client, kiosk, visitorID, ["face_encoding": Self.encodingText(Self.encoding(1))]),
                        .notFound, "not_found")
            let feed = try await client.call(.get, "/api/employees/timekeeper/changes/", as: kiosk.caller, headers: kiosk.headers)
            #expect((feed["changes"] as? [[String: Any]])?.count == 1, "\(feed.text)")
            _ = try await client.call(.patch, "/persons/\(visitorID)", as: owner.caller, json: JSON(["full_name": "Still a visitor"]))
            let quiet = try await client.call(.get, "/api/employees/timekeeper/changes/?cursor=\(feed["next_cursor"] as? String ?? "")",
                                              as: kiosk.caller, headers: kiosk.headers)
            #expect((quiet["changes"] as? [Any])?.isEmpty == true, "\(quiet.text)")

            // Unix seconds are a registration time too; a deleted face cannot come back from an older registration.
            let now = Date().timeIntervalSince1970
            #expect(try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(1)), "registered_at": now - 60])
                .status == .ok)
            #expect(try await client.call(.delete, "/api/employees/\(id)/face/", as: kiosk.caller, headers: kiosk.headers).status == .ok)
            expectError(try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(2)), "registered_at": now - 30]),
                        .conflict, "stale_registration")

            // Resigned, then back in the HR import: reinstated.
            #expect(try await client.call(.delete, "/api/employees/\(id)", as: owner.caller).status == .noContent)
            let reimport = try await client.call(.post, "/api/employees/import", as: owner.caller,
                                                 json: "[{\"name\": \"Cruz, Pedro\", \"timekeeper_id\": \"TK-9\"}]")
            #expect(reimport["updated"] as? Int == 1, "\(reimport.text)")
            #expect(try await client.call(.get, "/api/employees/\(id)", as: owner.caller).object("employee")["active"] as? Bool == true)
            // Resigning deleted the face data too: an upload registered before that cannot bring it back.
            let old = try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(3)), "registered_at": now - 10])
            expectError(old, .conflict, "stale_registration")
            #expect(old["deleted_at"] is String, "\(old.text)")
            // A kiosk clock gone wrong is a 400, never a crash.
            for bad in [-1e300, 1e300] as [Double] {
                expectError(try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(3)), "registered_at": bad]),
                            .badRequest, "invalid_field")
            }
            expectError(try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(3)),
                                                                  "registered_at": "-9223372036854775807"]), .badRequest, "invalid_field")
        }
    }

    @Test(TestServer.sqliteOnly) func employeeListsSeekTheEmployeesIndex() async throws {
        let server = try await TestServer()
        try await server.run { _ in
            let plans = try await server.services.sqlite.pool.read { db in
                try ["SELECT * FROM persons WHERE companyID = 1 AND deletedAt IS NULL AND timekeeperID IS NOT NULL ORDER BY id LIMIT 500 OFFSET 500",
                     "SELECT * FROM persons WHERE companyID = 1 AND timekeeperID IS NOT NULL AND deletedAt IS NULL AND id > 7 ORDER BY id LIMIT 500"]
                    .map { try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + $0).map { $0["detail"] as String }.joined(separator: "; ") }
            }
            for plan in plans { #expect(plan.contains("persons_company_employees"), "\(plan)") }
        }
    }

    @Test func staleRegistrationsAreRefused() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let kiosk = try await Self.kiosk(client, owner, "Gate A")
            let id = try await Self.employee(client, owner, "Cruz, Pedro", "TK-9")
            let nine = "2026-01-13T09:00:00.000000Z", ten = "2026-01-13T10:00:00.123000Z"
            let first = try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(1)), "registered_at": ten])
            #expect(first["registered_at"] as? String == ten, "\(first.text)")
            // An offline kiosk's older registration cannot overwrite the newer face.
            let stale = try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(2)), "registered_at": nine])
            expectError(stale, .conflict, "stale_registration")
            #expect(stale["registered_at"] as? String == ten)
            // The same registration again (a retry) and a newer one are accepted.
            #expect(try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(1)), "registered_at": ten]).status == .ok)
            #expect(try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(3))]).status == .ok)
            expectError(try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(1)), "registered_at": "yesterday"]),
                        .badRequest, "invalid_field")
        }
    }

    @Test func theDownloadWithoutPagingParametersIsTheWholeTable() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let kiosk = try await Self.kiosk(client, owner, "Gate A")
            // More employees than one page (500) and than one streamed part (1,000).
            let rows = (1...1_203).map { ["name": "Employee \($0)", "timekeeper_id": "TK-\($0)"] }
            let body = String(decoding: try JSONSerialization.data(withJSONObject: rows), as: UTF8.self)
            #expect(try await client.call(.post, "/api/employees/import", as: owner.caller, json: body)["created"] as? Int == 1_203)
            var ids: [Int64] = []
            for page in 1...2 {
                ids += Self.array(try await Self.list(client, kiosk, "page=\(page)&page_size=1000")).compactMap { Self.id($0["id"]) }
            }
            try #require(ids.count == 1_203)
            for (index, id) in [ids[0], ids[999], ids[1_000], ids[1_202]].enumerated() {
                #expect(try await Self.upload(client, kiosk, id, ["face_encoding": Self.encodingText(Self.encoding(index))]).status == .ok)
            }

            // The specification's call, as a desktop app written from it makes it: every employee, no Link.
            let whole = try await Self.list(client, kiosk, "include_faces=true")
            #expect(whole.status == .ok && whole.headers[KioskController.link] == nil)
            #expect(whole.headers[KioskController.totalCount] == "1203" && whole.headers[KioskController.syncCursor] != nil)
            let employees = Self.array(whole)
            #expect(employees.count == 1_203)
            #expect(employees.compactMap { Self.id($0["id"]) } == ids)
            #expect(employees.filter { $0["has_face_registration"] as? Bool == true }.count == 4)
            #expect(employees[1_000]["face_encoding"] as? String == Self.encodingText(Self.encoding(2)))
            // gzip-compressed as it streams: the same table.
            var gzip = kiosk.headers
            gzip[.acceptEncoding] = "gzip"
            let compressed = try await client.call(.get, "/api/employees/timekeeper/?include_faces=true", as: kiosk.caller, headers: gzip)
            #expect(compressed.headers[.contentEncoding] == "gzip")
            var buffer = ByteBuffer(data: compressed.data)
            let inflated = try buffer.decompress(with: .gzip())
            #expect(Data(buffer: inflated) == whole.data)

            // With paging parameters, paging as before; a page size past the cap says how to get everything.
            let second = try await Self.list(client, kiosk, "page=2")
            #expect(Self.array(second).count == 500 && second.headers[KioskController.link]?.contains("page=3&page_size=500") == true)
            let tooLarge = try await Self.list(client, kiosk, "page_size=5000")
            expectError(tooLarge, .badRequest, "invalid_query")
            #expect((tooLarge["detail"] as? String)?.contains("omit page and page_size") == true, "\(tooLarge.text)")
        }
    }

    @Test func fullSyncsArePerKioskPerHourAndDeltasAreFree() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let kioskA = try await Self.kiosk(client, owner, "Gate A")
            let kioskB = Kiosk(caller: kioskA.caller, device: try await client.device("Gate B", in: owner))
            _ = try await Self.employee(client, owner, "One", "TK-1")
            for _ in 1...10 { #expect(try await Self.list(client, kioskA, "include_faces=true").status == .ok) }
            let limited = try await Self.list(client, kioskA, "include_faces=true")
            expectError(limited, .tooManyRequests, "rate_limited")
            #expect(limited.headers[.retryAfter] != nil)
            expectError(try await client.call(.get, "/api/employees/timekeeper/changes/", as: kioskA.caller, headers: kioskA.headers),
                        .tooManyRequests, "rate_limited")
            // Later pages are part of the same full sync; another kiosk has its own budget.
            #expect(try await Self.list(client, kioskA, "page=2").status == .ok)
            let snapshot = try await client.call(.get, "/api/employees/timekeeper/changes/", as: kioskB.caller, headers: kioskB.headers)
            let cursor = try #require(snapshot["next_cursor"] as? String)
            for _ in 1...20 {
                #expect(try await client.call(.get, "/api/employees/timekeeper/changes/?cursor=\(cursor)", as: kioskA.caller,
                                              headers: kioskA.headers).status == .ok)
            }
            // gzip when the client accepts it.
            var gzip = kioskB.headers
            gzip[.acceptEncoding] = "gzip, deflate"
            let compressed = try await client.call(.get, "/api/employees/timekeeper/?page=2", as: kioskB.caller, headers: gzip)
            #expect(compressed.headers[.contentEncoding] == "gzip" && compressed.data.starts(with: [0x1F, 0x8B]))
        }
    }

    @Test func employeesCRUDAndCSVImport() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let csv = "name,timekeeper_id,external_id\n\"Dela Cruz, Juan\",TK-1,P-1\n\"Santos, Maria\",TK-2,\n"
            let imported = try await client.raw(.post, "/api/employees/import", as: owner.caller, body: Data(csv.utf8), contentType: "text/csv")
            #expect(imported["created"] as? Int == 2, "\(imported.text)")
            let again = "name,timekeeper_id\n\"Dela Cruz, Juan P.\",TK-1\n\"Santos, Maria\",TK-2\n"
            let updated = try await client.raw(.post, "/api/employees/import", as: owner.caller, body: Data(again.utf8), contentType: "text/csv")
            #expect(updated["updated"] as? Int == 1 && updated["unchanged"] as? Int == 1, "\(updated.text)")
            let bad = try await client.raw(.post, "/api/employees/import", as: owner.caller, body: Data("name,timekeeper_id\nX,\n".utf8),
                                           contentType: "text/csv")
            expectError(bad, .badRequest, "invalid_field")
            #expect(bad.text.contains("line 2"))
            // Bounded before parsing: too many lines, too many columns.
            let tall = "name,timekeeper_id\n" + String(repeating: "\n", count: 10_005)
            expectError(try await client.raw(.post, "/api/employees/import", as: owner.caller, body: Data(tall.utf8), contentType: "text/csv"),
                        .badRequest, "invalid_field")
            let wide = (0..<20).map { "c\($0)" }.joined(separator: ",") + "\nx\n"
            expectError(try await client.raw(.post, "/api/employees/import", as: owner.caller, body: Data(wide.utf8), contentType: "text/csv"),
                        .badRequest, "invalid_field")
            expectError(try await client.call(.post, "/api/employees", as: owner.caller, json: JSON(["name": "Dup", "timekeeper_id": "TK-2"])),
                        .conflict, "timekeeper_id_taken")
            expectError(try await client.call(.post, "/api/employees", as: owner.caller, json: JSON(["name": "No id"])), .badRequest, "missing_field")

            let list = try #require(try await client.call(.get, "/api/employees", as: owner.caller)["employees"] as? [[String: Any]])
            #expect(list.map { $0["name"] as? String } == ["Dela Cruz, Juan P.", "Santos, Maria"])
            let maria = try #require(Self.id(list[1]["id"]))
            let resigned = try await client.call(.patch, "/api/employees/\(maria)", as: owner.caller, json: JSON(["resigned": true]))
            #expect(resigned.object("employee")["active"] as? Bool == false, "\(resigned.text)")
            #expect((try await client.call(.get, "/api/employees", as: owner.caller)["employees"] as? [Any])?.count == 1)
            #expect((try await client.call(.get, "/api/employees?include_deleted=true", as: owner.caller)["employees"] as? [Any])?.count == 2)
            #expect((try await client.call(.get, "/persons/\(maria)", as: owner.caller)).status == .notFound)
            let back = try await client.call(.patch, "/api/employees/\(maria)", as: owner.caller, json: JSON(["resigned": false]))
            #expect(back.object("employee")["active"] as? Bool == true)
            let other = try await client.register("Bravo")
            #expect((try await client.call(.get, "/api/employees/\(maria)", as: other.caller)).status == .notFound)
        }
    }
}
