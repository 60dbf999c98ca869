import Foundation
import GRDB
import Testing

@testable import FaceIDServer

/// A stored face whose sealed encoding does not open (a damaged row): set aside, and everything else still served.
@Suite("Damaged stored faces are quarantined", TestServer.sqliteOnly)
struct QuarantineTests {
    /// Overwrites a face's sealed encoding with bytes that do not open (the version byte is right, the box is not).
    static func damage(faceOf employee: Int64, in server: TestServer) async throws -> Int64 {
        try await server.services.sqlite.pool.write { db in
            let faceID = try #require(try Int64.fetchOne(db, sql: "SELECT id FROM faces WHERE personID = ?", arguments: [employee]))
            try db.execute(sql: "UPDATE faces SET sealedEncoding = ? WHERE id = ?", arguments: [Data([1] + Array(repeating: 7, count: 60)), faceID])
            return faceID
        }
    }

    @Test func aDamagedKioskFaceIsSetAsideAndTheListsAreServed() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let kiosk = try await KioskSyncTests.kiosk(client, owner, "Gate A")
            let ana = try await KioskSyncTests.employee(client, owner, "Ana", "TK-1")
            let ben = try await KioskSyncTests.employee(client, owner, "Ben", "TK-2")
            for (employee, seed) in [(ana, 1), (ben, 2)] {
                let reply = try await KioskSyncTests.upload(client, kiosk, employee, ["face_encoding": KioskSyncTests.encodingText(KioskSyncTests.encoding(seed))])
                #expect(reply.status == .ok, "\(reply.text)")
            }
            let damaged = try await Self.damage(faceOf: ana, in: server)

            // The whole table, a page and the feed: 200, Ben with his encoding, Ana without a face.
            for query in ["include_faces=true", "include_faces=true&page=1&page_size=10"] {
                let list = try await KioskSyncTests.list(client, kiosk, query)
                #expect(list.status == .ok, "\(query): \(list.text.prefix(300))")
                let rows = KioskSyncTests.array(list)
                let anaRow = try #require(rows.first { KioskSyncTests.id($0["id"]) == ana })
                let benRow = try #require(rows.first { KioskSyncTests.id($0["id"]) == ben })
                #expect(anaRow["has_face_registration"] as? Bool == false, "\(anaRow)")
                #expect(KioskSyncTests.parse(benRow["face_encoding"] as? String) == KioskSyncTests.encoding(2))
            }
            let feed = try await client.call(.get, "/api/employees/timekeeper/changes", as: kiosk.caller, headers: kiosk.headers)
            #expect(feed.status == .ok, "\(feed.text.prefix(300))")
            #expect((feed["changes"] as? [[String: Any]])?.count == 2)

            // Set aside once: audited once, counted by /readyz (still ready: the rest is served).
            let ready = try await client.call(.get, "/readyz")
            #expect(ready.status == .ok)
            #expect(KioskSyncTests.id(ready["quarantined_faces"]) == 1)
            let audit = try await client.call(.get, "/audit?action=face.quarantine", as: owner.caller)
            let events = try #require(audit["events"] as? [[String: Any]])
            #expect(events.count == 1)
            #expect(events.first?["target"] as? String == "face:\(damaged)")

            // The employee registers again: a new face, served to every kiosk.
            let again = try await KioskSyncTests.upload(client, kiosk, ana, ["face_encoding": KioskSyncTests.encodingText(KioskSyncTests.encoding(3))])
            #expect(again.status == .ok, "\(again.text)")
            let list = KioskSyncTests.array(try await KioskSyncTests.list(client, kiosk, "include_faces=true"))
            let anaRow = try #require(list.first { KioskSyncTests.id($0["id"]) == ana })
            #expect(KioskSyncTests.parse(anaRow["face_encoding"] as? String) == KioskSyncTests.encoding(3))
        }
    }

    @Test(TestServer.sqliteOnly) func theIndexFeedSkipsADamagedFaceAndGoesOn() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let store = server.services.store
            let origin = RequestOrigin.unknown
            // Two faces committed to the store, the index not caught up yet; then the first is damaged.
            let added = try await store.addFaces(
                [Store.NewFace(person: .external("a", fullName: "A"), encoding: KioskSyncTests.encoding(1).map(Float.init)),
                 Store.NewFace(person: .external("b", fullName: "B"), encoding: KioskSyncTests.encoding(2).map(Float.init))],
                companyID: owner.companyID, source: "import", reference: false, keyRing: server.services.keyRing, actor: "test", origin: origin)
            try await server.services.sqlite.pool.write { db in
                try db.execute(sql: "UPDATE faces SET sealedEncoding = ? WHERE id = ?", arguments: [Data([1] + Array(repeating: 9, count: 60)), added[0].id!])
            }
            try await server.services.index.catchUp(owner.companyID)
            let collection = try server.services.index.collection(owner.companyID)
            #expect(collection.count == 1)
            #expect(try collection.vector(for: UInt64(added[1].id!)) != nil)
            #expect(try await store.quarantinedFaceCount() == 1)
            // Later writes still reach the index.
            let reply = try await client.call(.post, "/faces/import", as: owner.caller, json: """
                [{"external_id": "c", "encoding": \(KioskSyncTests.encoding(3))}]
                """)
            #expect(reply.status == .created, "\(reply.text)")
            #expect(try server.services.index.collection(owner.companyID).count == 2)
        }
    }
}
