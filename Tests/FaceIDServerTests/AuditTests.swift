import Crypto
import Foundation
import GRDB
import Testing

@testable import FaceIDServer

@Suite("Audit log and encryption at rest")
struct AuditTests {
    /// Every append reads the company's newest hash; the pages of the audit and access logs are the newest events. Each
    /// must seek, not sort the company's whole history (a million-person import appends a million events).
    @Test(TestServer.sqliteOnly) func theNewestEventsAreFoundWithoutSortingTheHistory() async throws {
        let server = try await TestServer()
        try await server.run { _ in
            let plans = try await server.services.sqlite.pool.read { db in
                try [AuditLog.previousHashSQL.replacingOccurrences(of: "?", with: "1"),
                     "SELECT * FROM auditEvents WHERE companyID = 1 ORDER BY id DESC LIMIT 50",
                     "SELECT * FROM auditEvents WHERE companyID = 1 AND action = 'face.create' AND id < 900 ORDER BY id DESC LIMIT 50",
                     "SELECT * FROM accessLog WHERE companyID = 1 ORDER BY id DESC LIMIT 50"]
                    .map { try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + $0).map { $0["detail"] as String }.joined(separator: "; ") }
            }
            for plan in plans { #expect(!plan.contains("TEMP B-TREE"), "\(plan)") }
            // The signed head follows every append: the company's newest id and the events after the head.
            let head = try await server.services.sqlite.pool.read { db in
                try ["SELECT MAX(id) FROM auditEvents WHERE companyID = 1", "SELECT COUNT(*) FROM auditEvents WHERE companyID = 1 AND id > 5"]
                    .map { try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + $0).map { $0["detail"] as String }.joined(separator: "; ") }
            }
            for plan in head { #expect(plan.contains("auditEvents_company_id"), "\(plan)") }
        }
    }

    @Test func everyChangeIsAuditedWithActorAndOrigin() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme", from: "203.0.113.9")
            _ = try await client.call(.post, "/login", json: JSON(["email": owner.email, "password": "wrong password"]))
            let staff = try await client.user(.staff, in: owner)
            _ = try await client.call(.patch, "/users/\(staff.id)", as: owner.caller, json: JSON(["role": "viewer"]))
            _ = try await client.call(.delete, "/users/\(staff.id)", as: owner.caller)
            let key = try await client.apiKey([.admin], in: owner)
            let device = try await client.device("Kiosk", in: owner)
            _ = try await client.call(.delete, "/devices/\(device)", as: .apiKey(key.key))
            _ = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["requests_per_minute": 100]))
            _ = try await client.call(.delete, "/api-keys/\(key.id)", as: owner.caller)
            _ = try await client.call(.post, "/logout", as: owner.caller)

            let login = try await client.call(.post, "/login", json: JSON(["email": owner.email, "password": Client.password]))
            let token = try #require(login["token"] as? String)
            let page = try await client.call(.get, "/audit?limit=500", as: .token(token))
            #expect(page.status == .ok, "\(page.text)")
            let events = try #require(page["events"] as? [[String: Any]])
            let actions = events.map { $0["action"] as? String ?? "" }
            for action in ["company.register", "auth.login", "auth.login_failed", "user.create", "user.role_change", "user.delete",
                           "api_key.create", "api_key.revoke", "device.create", "device.delete", "settings.update", "auth.logout"] {
                #expect(actions.contains(action), "missing \(action) in \(actions)")
            }
            let register = try #require(events.first { $0["action"] as? String == "company.register" })
            #expect(register["remote_address"] as? String == "203.0.113.9")
            #expect(register["user_agent"] as? String == "faceid-tests")
            #expect(register["actor"] as? String == "user:\(owner.ownerID)")
            let deleted = try #require(events.first { $0["action"] as? String == "device.delete" })
            #expect(deleted["actor"] as? String == "api_key:\(key.id)")
            // Newest first; passwords and tokens never in the log.
            #expect(actions.first == "auth.login")
            #expect(!page.text.contains(Client.password) && !page.text.contains("wrong password") && !page.text.contains(owner.token))
        }
    }

    @Test func auditFiltersAndPages() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            for index in 0..<5 { _ = try await client.device("Kiosk \(index)", in: owner) }
            let devices = try await client.call(.get, "/audit?action=device.create&limit=2", as: owner.caller)
            let first = try #require(devices["events"] as? [[String: Any]])
            #expect(first.count == 2)
            let cursor = try #require(devices["next_cursor"] as? String)
            let second = try await client.call(.get, "/audit?action=device.create&limit=2&cursor=\(cursor)", as: owner.caller)
            let third = try await client.call(
                .get, "/audit?action=device.create&limit=2&cursor=\(second["next_cursor"] as? String ?? "")", as: owner.caller)
            #expect((second["events"] as? [[String: Any]])?.count == 2)
            #expect((third["events"] as? [[String: Any]])?.count == 1)
            #expect(third["next_cursor"] == nil || third["next_cursor"] is NSNull)
            let byActor = try await client.call(.get, "/audit?actor=user:\(owner.ownerID)", as: owner.caller)
            #expect((byActor["events"] as? [[String: Any]])?.count == 6)
            let future = try await client.call(.get, "/audit?from=2999-01-01T00:00:00Z", as: owner.caller)
            #expect((future["events"] as? [[String: Any]])?.isEmpty == true)
            let past = try await client.call(.get, "/audit?to=2000-01-01T00:00:00Z", as: owner.caller)
            #expect((past["events"] as? [[String: Any]])?.isEmpty == true)
            expectError(try await client.call(.get, "/audit?from=yesterday", as: owner.caller), .badRequest, "invalid_query")
            expectError(try await client.call(.get, "/audit?limit=0", as: owner.caller), .badRequest, "invalid_query")
        }
    }

    @Test(TestServer.sqliteOnly) func theChainVerifiesAndAnAlteredRowBreaksIt() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let a = try await client.register("Acme")
            let b = try await client.register("Bravo")
            for index in 0..<3 {
                _ = try await client.device("A \(index)", in: a)
                _ = try await client.device("B \(index)", in: b)
            }
            let intact = try await client.call(.get, "/audit/verify", as: a.caller)
            #expect(intact["intact"] as? Bool == true, "\(intact.text)")
            #expect(intact["event_count"] as? Int == 4)
            // The store refuses changes; an attacker with the file drops the trigger first.
            await #expect(throws: DatabaseError.self) {
                try await server.services.sqlite.pool.write { db in try db.execute(sql: "UPDATE auditEvents SET actor = 'x'") }
            }
            await #expect(throws: DatabaseError.self) {
                try await server.services.sqlite.pool.write { db in try db.execute(sql: "DELETE FROM auditEvents") }
            }
            let target = try await server.services.sqlite.pool.write { db in
                try db.execute(sql: "DROP TRIGGER auditEvents_no_update")
                let id = try Int64.fetchOne(db, sql: """
                    SELECT id FROM auditEvents WHERE companyID = ? AND action = 'device.create' ORDER BY id LIMIT 1
                    """, arguments: [a.companyID])!
                try db.execute(sql: "UPDATE auditEvents SET detail = '{\"name\":\"innocent\"}' WHERE id = ?", arguments: [id])
                return id
            }
            let broken = try await client.call(.get, "/audit/verify", as: a.caller)
            #expect(broken["intact"] as? Bool == false)
            #expect((broken["first_broken_id"] as? NSNumber)?.int64Value == target)
            // Company B's chain is its own and still intact.
            #expect(try await client.call(.get, "/audit/verify", as: b.caller)["intact"] as? Bool == true)
        }
    }

    @Test(TestServer.sqliteOnly) func neitherTheMasterKeyNorADataKeyIsInTheDatabaseFile() async throws {
        let server = try await TestServer()
        let master = try #require(server.configuration.masterKey)
        try await server.run { client in
            let tenant = try await client.register("Acme")
            _ = try await client.device("Kiosk", in: tenant)
            let wrapped = try #require(try await server.services.sqlite.pool.read { db in
                try Data.fetchOne(db, sql: "SELECT wrappedKey FROM companies WHERE id = ?", arguments: [tenant.companyID])
            })
            // The data key, as the key ring unwraps it, sealing a test value.
            let sealer = try server.services.keyRing.sealer(companyID: tenant.companyID, wrappedKey: wrapped)
            let dataKey = sealer.key.withUnsafeBytes { Data($0) }
            let masterBytes = master.key.withUnsafeBytes { Data($0) }
            let sealed = try sealer.seal(Data("a face".utf8), recordID: "face:1")
            #expect(try sealer.open(sealed, recordID: "face:1") == Data("a face".utf8))
            #expect(throws: (any Error).self) { try sealer.open(sealed, recordID: "face:2") }
            // Another master key cannot unwrap the company's key, even with the key vault's secret.
            let other = KeyRing(master: MasterKey.random(), vault: server.services.keyRing.vault)
            try await other.loadSecrets()
            #expect(throws: ServiceError.self) { try other.sealer(companyID: tenant.companyID, wrappedKey: wrapped) }
            // Every byte SQLite wrote so far: the main file and the write-ahead log.
            var bytes = Data()
            for suffix in ["", "-wal"] {
                bytes += (try? Data(contentsOf: URL(fileURLWithPath: server.configuration.databasePath + suffix))) ?? Data()
            }
            #expect(bytes.count > 4096)
            #expect(bytes.range(of: wrapped) != nil, "the scan must see the wrapped key it is looking next to")
            for (name, secret) in [("master key", masterBytes), ("data key", dataKey)] {
                #expect(bytes.range(of: secret) == nil, "raw \(name) found in SQLite")
                for text in [secret.base64EncodedString(), secret.map { String(format: "%02x", $0) }.joined()] {
                    #expect(bytes.range(of: Data(text.utf8)) == nil, "encoded \(name) found in SQLite")
                }
            }
        }
    }
}
