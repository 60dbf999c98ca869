import Foundation
import GRDB
import Logging
import Testing

@testable import FaceIDServer

/// What lies in the data folder and who can read it; the audit chain's head outside the store; configuration aliases.
@Suite("Data protection", TestServer.sqliteOnly)
struct DataProtectionTests {
    static func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
    }

    @Test func theStoreFilesAreTheOwnersAlone() async throws {
        let server = try await TestServer()
        let database = server.configuration.databasePath
        try await server.run { client in
            _ = try await client.register("Acme")
            for file in [database, database + "-wal", database + "-shm"] {
                #expect(FileManager.default.fileExists(atPath: file), "\(file)")
                #expect(Self.mode(file) == 0o600, "\(file): \(String(Self.mode(file) ?? 0, radix: 8))")
            }
        }
        // A store created by an older version with 0644 is narrowed when opened.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-modes-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/faceid.sqlite"
        try Store(path: path).close()
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let reopened = try Store(path: path)
        #expect(Self.mode(path) == 0o600)
        try reopened.close()
    }

    @Test func anExposedDataFolderIsNoticed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-folder-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(DataDirectory.isExposed(folder))
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: folder)
        #expect(!DataDirectory.isExposed(folder))
    }

    @Test func theDesktopTeamsVariableNamesTheAppSecret() async throws {
        let arguments = ["faceid-server", "--data-directory", "/nonexistent-faceid"]
        let alias = try await ServerConfiguration.load(arguments: arguments, environment: ["DESKTOP_APP_SECRET": "from-the-spec"])
        #expect(alias.desktopAppSecret == "from-the-spec")
        let both = try await ServerConfiguration.load(
            arguments: arguments, environment: ["DESKTOP_APP_SECRET": "from-the-spec", "FACEID_KIOSK_APP_SECRET": "ours"])
        #expect(both.desktopAppSecret == "ours")
        #expect(try await ServerConfiguration.load(arguments: arguments, environment: [:]).desktopAppSecret == nil)
    }

    @Test(TestServer.sqliteOnly) func deletingTheNewestAuditEventsIsDetectedByTheHead() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let acme = try await client.register("Acme")
            let other = try await client.register("Bravo")
            for index in 0..<3 { _ = try await client.device("Kiosk \(index)", in: acme) }
            let intact = try await client.call(.get, "/audit/verify", as: acme.caller)
            #expect(intact["intact"] as? Bool == true, "\(intact.text)")
            #expect(intact.object("head")["status"] as? String == "anchored")
            #expect(intact.object("head")["events_after_head"] as? Int == 0)

            // Someone with the file drops the triggers and cuts off the newest two events: the chain left is valid…
            try await server.services.sqlite.pool.write { db in
                try db.execute(sql: "DROP TRIGGER auditEvents_no_delete")
                try db.execute(sql: """
                    DELETE FROM auditEvents WHERE id IN (SELECT id FROM auditEvents WHERE companyID = ? ORDER BY id DESC LIMIT 2)
                    """, arguments: [acme.companyID])
            }
            let verification = try await server.services.store.verifyAudit(companyID: acme.companyID, head: server.services.auditHead)
            #expect(verification.chain.intact)
            // …but not against the head kept outside the store…
            let cut = try await client.call(.get, "/audit/verify", as: acme.caller)
            #expect(cut["intact"] as? Bool == false, "\(cut.text)")
            #expect(cut.object("head")["status"] as? String == "truncated")
            // …and new events chained onto the cut-off tail do not launder it into a fresh head.
            _ = try await client.device("After the cut", in: acme)
            let later = try await client.call(.get, "/audit/verify", as: acme.caller)
            #expect(later["intact"] as? Bool == false && later.object("head")["status"] as? String == "truncated", "\(later.text)")
            #expect(try await client.call(.get, "/audit/verify", as: other.caller)["intact"] as? Bool == true)

            // A forged or missing head is no anchor either, and the next append does not replace it.
            let headFile = server.configuration.auditHeadPath + "/company-\(other.companyID).head"
            #expect(Self.mode(headFile) == 0o600)
            let genuine = try String(contentsOfFile: headFile, encoding: .utf8)
            let forged = genuine.split(separator: " ").enumerated().map { $0 == 0 ? String(Int($1)! + 1) : String($1) }.joined(separator: " ")
            try forged.write(toFile: headFile, atomically: true, encoding: .utf8)
            let invalid = try await client.call(.get, "/audit/verify", as: other.caller)
            #expect(invalid["intact"] as? Bool == false && invalid.object("head")["status"] as? String == "invalid")
            try FileManager.default.removeItem(atPath: headFile)
            _ = try await client.device("Gate", in: other)
            let missing = try await client.call(.get, "/audit/verify", as: other.caller)
            #expect(missing["intact"] as? Bool == false && missing.object("head")["status"] as? String == "missing")
            // A company registered now gets its head with its first event.
            let third = try await client.register("Charlie")
            #expect(try await client.call(.get, "/audit/verify", as: third.caller).object("head")["status"] as? String == "anchored")
        }
    }

    @Test func anEmptiedHeadFolderIsNotTrustedAgain() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-heads-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Store(path: folder + "/faceid.sqlite")
        defer { try? store.close() }
        let master = MasterKey.random()
        let logger = Logger(label: "test")
        // Events written before heads existed: the first start with a head folder records them (trust on first use).
        try await store.audit(AuditEvent(action: "test.one", actor: "user:1", origin: .unknown), companyID: 7)
        let heads = try store.publishAuditHead(directory: folder + "/heads", master: master, logger: logger)
        #expect(try await store.verifyAudit(companyID: 7, head: heads).head == .anchored)
        // Emptied later (and the store's tail cut): a restart does not re-anchor on whatever the store says now.
        try FileManager.default.removeItem(atPath: folder + "/heads/company-7.head")
        let again = try store.publishAuditHead(directory: folder + "/heads", master: master, logger: logger)
        #expect(try await store.verifyAudit(companyID: 7, head: again).head == .missing)
    }
}
