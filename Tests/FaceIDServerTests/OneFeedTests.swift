import Foundation
import GRDB
import Testing

@testable import FaceIDServer

/// One change feed: face rows for the index, employee rows for kiosks, one retention rule, and an index that rebuilds from
/// the current faces once the feed was purged.
@Suite("One change feed", TestServer.sqliteOnly)
struct OneFeedTests {
    static func encoding(_ seed: Int) -> [Float] {
        let raw = (0..<128).map { Float(sin(Double(seed * 37 + $0) * 0.61)) }
        return raw
    }

    @Test func theUpgradeKeepsTheIndexPositionsAndMovesTheKioskFeedAfterThem() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-feed-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let pool = try DatabasePool(path: path)
        try Store.migrator.migrate(pool, upTo: "v9-quarantine")
        try pool.write { db in
            let now = Date()
            try db.execute(sql: "INSERT INTO companies (id, name, wrappedKey, settings, createdAt) VALUES (1, 'Acme', x'00', '{}', ?)", arguments: [now])
            try db.execute(sql: """
                INSERT INTO persons (id, companyID, fullName, tags, metadata, createdAt, updatedAt, timekeeperID)
                VALUES (7, 1, 'Ana', '[]', '{}', ?, ?, 'TK-7'), (8, 1, 'Ben', '[]', '{}', ?, ?, NULL)
                """, arguments: [now, now, now, now])
            // The two feeds as an older server wrote them: faces from Swift, employees from the v5 triggers.
            for (seq, face, person) in [(40, 100, 7), (41, 101, 8), (42, 100, 7)] as [(Int64, Int64, Int64)] {
                try db.execute(sql: "INSERT INTO faceChanges (seq, companyID, faceID, personID, op, atMicros) VALUES (?, 1, ?, ?, 'upsert', 5)",
                               arguments: [seq, face, person])
            }
            try db.execute(sql: "INSERT INTO devices (id, companyID, name, location, createdAt, ackedSeq, ackedAt) VALUES (3, 1, 'Gate', '', ?, 1, ?)",
                           arguments: [now, now])
        }
        let employeeRows = try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM employeeChanges") ?? 0 }
        #expect(employeeRows >= 1)  // the insert of Ana
        try Store.migrator.migrate(pool)
        try pool.read { db in
            let faceRows = try Row.fetchAll(db, sql: "SELECT seq, faceID, employee FROM changes WHERE faceID IS NOT NULL ORDER BY seq")
            #expect(faceRows.map { $0["seq"] as Int64 } == [40, 41, 42])
            #expect(faceRows.map { $0["employee"] as Bool } == [true, false, true])
            let personRows = try Int64.fetchAll(db, sql: "SELECT seq FROM changes WHERE faceID IS NULL ORDER BY seq")
            #expect(personRows.count == employeeRows)
            #expect(personRows.allSatisfy { $0 > 42 })
            #expect(try Int64.fetchOne(db, sql: "SELECT ackedSeq FROM devices WHERE id = 3") == nil)
            #expect(try db.tableExists("faceChanges") == false && db.tableExists("employeeChanges") == false)
        }
        // The triggers append from now on: an employee's record change, and any face.
        try pool.write { db in
            try db.execute(sql: "UPDATE persons SET fullName = 'Ana B' WHERE id = 7")
            try db.execute(sql: "UPDATE persons SET fullName = 'Ben B' WHERE id = 8")
            try db.execute(sql: """
                INSERT INTO faces (id, companyID, personID, sealedEncoding, modelID, source, reference, createdAt)
                VALUES (102, 1, 8, x'00', 'dlib-resnet-v1', 'import', 0, ?)
                """, arguments: [Date()])
        }
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT personID, faceID, op, employee FROM changes WHERE seq > 42 ORDER BY seq").suffix(2)
            #expect(rows.map { $0["personID"] as Int64 } == [7, 8])
            #expect(rows.map { $0["op"] as String } == ["person", "upsert"])
            #expect(rows.map { $0["employee"] as Bool } == [true, false])
        }
        // An old kiosk cursor (`d.`) is unknown: the kiosk runs a full sync once.
        #expect(SyncCursor("ZC4xLjQy") == nil)  // "d.1.42"
        #expect(SyncCursor(SyncCursor.delta(companyID: 1, seq: 42).text) == .delta(companyID: 1, seq: 42))
    }

    @Test func theRetentionPurgesWhatEveryConsumerAppliedAndTheIndexRebuildsFromTheFaces() async throws {
        let clock = ServerClock.manual()
        let server = try await TestServer(clock: clock)
        try await server.run { client in
            let owner = try await client.register("Acme")
            let store = server.services.store
            let faces = try await store.addFaces(
                (1...30).map { Store.NewFace(person: .external("P\($0)", fullName: "P\($0)"), encoding: Self.encoding($0)) },
                companyID: owner.companyID, source: "import", reference: false, keyRing: server.services.keyRing, actor: "test",
                origin: .unknown)
            try await server.services.index.catchUp(owner.companyID)
            for face in faces.prefix(5) {
                try await server.services.enrollment.deleteFace(id: face.id!, principal: Principal(companyID: owner.companyID,
                    credential: .session(id: 0, userID: owner.ownerID, role: .owner)), origin: .unknown)
            }
            // A kiosk that acknowledged early holds the feed for itself.
            let device = try await client.device("Gate", in: owner)
            let position = try await store.feedPosition(companyID: owner.companyID)
            _ = try await store.acknowledge(deviceID: device, companyID: owner.companyID, seq: 3)
            clock.advance(by: .seconds(Int64(server.configuration.tombstoneDays) * 86_400 + 60))
            try await server.services.retention.sweep()
            #expect(try await store.purgedThrough(companyID: owner.companyID) <= 3)
            // Once it caught up, everything the index applied goes.
            _ = try await store.acknowledge(deviceID: device, companyID: owner.companyID, seq: position)
            try await server.services.retention.sweep()
            let purged = try await store.purgedThrough(companyID: owner.companyID)
            #expect(purged == server.services.index.lowWatermark(owner.companyID))
            #expect(purged > 0)
            #expect(try await store.faceChanges(companyID: owner.companyID, after: 0, limit: 100).changes.isEmpty)

            // A new index (the old one lost): the feed cannot replay it, the current faces load it.
            for space in IndexSpace.allCases {
                try? server.services.index.database.dropCollection(space.collectionName(owner.companyID))
            }
            try await server.services.index.catchUp(owner.companyID)
            let collection = try server.services.index.collection(owner.companyID)
            #expect(collection.count == 25)
            #expect(faces.prefix(5).allSatisfy { !collection.contains(UInt64($0.id!)) })
            #expect(faces.suffix(25).allSatisfy { collection.contains(UInt64($0.id!)) })
            #expect(Int64(collection.watermark) >= purged)
            // And it follows the feed from there (a new login: a month has passed on the server's clock).
            let login = try await client.call(.post, "/login", json: JSON(["email": owner.email, "password": Client.password]))
            let more = try await client.call(.post, "/faces/import", as: .token(login["token"] as? String ?? ""),
                                             json: "[{\"external_id\": \"Q\", \"encoding\": \(Self.encoding(99).map(Double.init))}]")
            #expect(more.status == .created, "\(more.text)")
            #expect(try server.services.index.collection(owner.companyID).count == 26)
        }
    }

    /// A change committed without a catch-up (another node's write, once the store is shared) reaches the index through
    /// the follower: the commit wakes it.
    @Test func theIndexFollowsCommitsItWasNotAskedToApply() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let follower = Task { try await server.services.index.run() }
            defer { follower.cancel() }
            let faces = try await server.services.store.addFaces(
                (1...3).map { Store.NewFace(person: .external("F\($0)", fullName: "F\($0)"), encoding: Self.encoding($0)) },
                companyID: owner.companyID, source: "import", reference: false, keyRing: server.services.keyRing, actor: "test",
                origin: .unknown)
            // A wake-up applies them at once; the poll within `followInterval` at the latest. A bound, not a speed check.
            var applied = false
            let deadline = ContinuousClock.now + .seconds(30)
            while !applied && ContinuousClock.now < deadline {
                applied = faces.allSatisfy { (try? server.services.index.collection(owner.companyID).contains(UInt64($0.id!))) == true }
                if !applied { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(applied, "the follower did not apply the committed faces")
        }
    }

    /// A company whose feed holds only employees' records (HR, no faces yet): the index stands at the feed's head, so
    /// the retention passes it.
    @Test func aFeedOfEmployeeRecordsOnlyIsPurgedToo() async throws {
        let clock = ServerClock.manual()
        let server = try await TestServer(clock: clock)
        try await server.run { client in
            let owner = try await client.register("Acme")
            for index in 1...3 {
                let reply = try await client.call(.post, "/api/employees", as: owner.caller,
                                                  json: JSON(["name": "E\(index)", "timekeeper_id": "TK-\(index)"]))
                #expect(reply.status == .created, "\(reply.text)")
            }
            try await server.services.index.catchUp(owner.companyID)
            let position = try await server.services.store.feedPosition(companyID: owner.companyID)
            #expect(server.services.index.lowWatermark(owner.companyID) == position)
            clock.advance(by: .seconds(Int64(server.configuration.tombstoneDays) * 86_400 + 60))
            try await server.services.retention.sweep()
            #expect(try await server.services.store.purgedThrough(companyID: owner.companyID) == position)
        }
    }
}
