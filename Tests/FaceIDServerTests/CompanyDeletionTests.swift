import Crypto
import Foundation
import GRDB
import Logging
import Prometheus
import Synchronization
import Testing
import VectorIndex

@testable import FaceIDServer

/// Issue 18: `DELETE /company` removes everything of the company and destroys its secret in the key vault, so a backup of
/// the store taken before no longer opens its faces, even with the master key.
@Suite("Company deletion and crypto-shredding")
struct CompanyDeletionTests {
    /// What `DELETE /company` is sent.
    static func deletion(password: String = Client.password, confirmation: String) -> String {
        JSON(["password": password, "confirmation": confirmation])
    }

    @Test func onlyTheOwnerWithPasswordAndPhraseDeletesAndEveryRowGoes() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let doomed = try await client.register("Doomed Co")
            let kept = try await client.register("Kept Co")
            _ = try await client.call(.patch, "/settings", as: doomed.caller, json: JSON(["store_images": true]))
            let kiosk = try await KioskSyncTests.kiosk(client, doomed, "Gate A")
            let employee = try await KioskSyncTests.employee(client, doomed, "Ana", "TK-1")
            #expect(try await KioskSyncTests.upload(client, kiosk, employee, ["face_encoding": KioskSyncTests.encodingText(KioskSyncTests.encoding(5))]).status == .ok)
            let photo = try #require(RecognitionTests.johns.first?.1.first, "libdlib19.1's johns photos are missing")
            #expect(try await RecognitionTests.enroll(client, doomed.caller, photo, ["full_name": "John"]).status == .created)
            #expect(try await PrivacyTests.importFace(client, kept, ["external_id": "K-1"], seed: 7).status == .created)
            _ = try await client.call(.post, "/face/search/encoding", as: doomed.caller,
                                      json: JSON(["encoding": KioskSyncTests.encoding(5), "model": "dlib-resnet-v1"]))
            let phrase = "delete Doomed Co"

            // Refusals, each leaving everything in place.
            for role in [Role.admin, .staff, .viewer] {
                let user = try await client.user(role, in: doomed)
                expectError(try await client.call(.delete, "/company", as: .token(user.token), json: Self.deletion(confirmation: phrase)),
                            .forbidden, "forbidden")
            }
            let key = try await client.apiKey([.admin], in: doomed)
            expectError(try await client.call(.delete, "/company", as: .apiKey(key.key), json: Self.deletion(confirmation: phrase)),
                        .forbidden, "forbidden")
            expectError(try await client.call(.delete, "/company", as: doomed.caller, json: Self.deletion(confirmation: "delete Doomed")),
                        .badRequest, "confirmation_mismatch")
            expectError(try await client.call(.delete, "/company", as: doomed.caller,
                                              json: Self.deletion(password: "not the password", confirmation: phrase)),
                        .forbidden, "reauthentication_failed")
            expectError(try await client.call(.delete, "/company", as: doomed.caller, json: JSON(["confirmation": phrase])),
                        .badRequest, "missing_field")
            expectError(try await client.call(.delete, "/company", as: doomed.caller, json: "{\"password\": 1"), .badRequest, "invalid_json")
            #expect(try await client.call(.get, "/persons", as: doomed.caller).status == .ok)
            let failed = try #require(try await client.call(.get, "/audit?action=auth.reauthentication_failed", as: doomed.caller)["events"]
                as? [[String: Any]])
            #expect(failed.count == 1)
            let wrapped = try #require(try await server.services.store.wrappedKey(companyID: doomed.companyID))
            guard case .vaulted(let keyID) = KeyRing.wrapping(of: wrapped) else { Issue.record("a legacy key"); return }
            #expect(try await server.services.keyRing.vault.secret(keyID: keyID) != nil)
            #expect(try server.services.index.dropCompany(-1) == 0)
            let collectionsBefore = try server.services.index.database.collectionNames()
                .filter { IndexSpace.companyID(ofCollection: $0) == doomed.companyID }
            #expect(!collectionsBefore.isEmpty)

            let deleted = try await client.call(.delete, "/company", as: doomed.caller, json: Self.deletion(confirmation: phrase))
            #expect(deleted.status == .ok, "\(deleted.text)")
            #expect(deleted["data_key"] as? String == "destroyed")
            #expect((deleted.object("rows_deleted")["faces"] as? Int ?? 0) >= 2, "\(deleted.text)")
            #expect(deleted["index_collections"] as? Int == collectionsBefore.count)

            // Gone: every row in every table, the secret, the collections, the photos; the owner's session with them.
            let counts = try await server.services.store.companyRowCounts(companyID: doomed.companyID)
            #expect(counts.count > 15, "\(counts)")
            #expect(counts.filter { $0.value != 0 } == [:])
            #expect(try await server.services.keyRing.vault.secret(keyID: keyID) == nil)
            #expect(try server.services.index.database.collectionNames().filter { IndexSpace.companyID(ofCollection: $0) == doomed.companyID } == [])
            #expect(try await server.services.index.images.photoCount(companyID: doomed.companyID, faceIDs: Array(1...20)) == 0)
            expectError(try await client.call(.get, "/persons", as: doomed.caller), .unauthorized, "invalid_token")
            expectError(try await client.call(.get, "/persons", as: .apiKey(key.key)), .unauthorized, "invalid_token")
            // What stays: that it existed, when, and who asked.
            let record = try #require(try await server.services.store.deletedCompanies().first { $0.id == doomed.companyID })
            #expect(record.name == "Doomed Co" && record.requestedBy == "user:\(doomed.ownerID)|\(doomed.email)" && record.completedAt != nil)
            // The other company is untouched.
            let found = try await client.call(.post, "/face/search/encoding", as: kept.caller,
                                              json: JSON(["encoding": KioskSyncTests.encoding(7), "model": "dlib-resnet-v1"]))
            #expect(found["decision"] as? String == "match", "\(found.text)")
            #expect(try await client.call(.get, "/audit/verify", as: kept.caller).status == .ok)
            // The audit log's append-only guard is back after the one deletion it allows.
            if TestServer.engine == .sqlite {
                await #expect(throws: (any Error).self) {
                    try await server.services.sqlite.pool.write { db in
                        try db.execute(sql: "DELETE FROM auditEvents WHERE companyID = ?", arguments: [kept.companyID])
                    }
                }
            }
        }
    }

    /// The issue's test: copy the data folder, delete the company, put the old store file back beside the new key vault →
    /// its faces do not open (and beside the old vault they do: the shredding, nothing else, is why).
    @Test(TestServer.sqliteOnly) func aBackupOfTheStoreTakenBeforeTheDeletionNoLongerOpensItsFaces() async throws {
        let server = try await TestServer()
        let backup = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-backup-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: backup) }
        let master = try #require(server.configuration.masterKey)
        let ids = Mutex<(doomed: Int64, kept: Int64, faces: [Int64])>((0, 0, []))
        try await server.run { client in
            let doomed = try await client.register("Doomed Co")
            let kept = try await client.register("Kept Co")
            var faces: [Int64] = []
            for seed in 1...3 {
                let reply = try await PrivacyTests.importFace(client, doomed, ["external_id": "D-\(seed)"], seed: seed)
                faces += (reply["face_ids"] as? [NSNumber] ?? []).map(\.int64Value)
            }
            #expect(try await PrivacyTests.importFace(client, kept, ["external_id": "K-1"], seed: 9).status == .created)
            ids.withLock { $0 = (doomed.companyID, kept.companyID, faces) }
            // The data folder, copied as a backup would be: the store (a consistent snapshot) and the key vault.
            try FileManager.default.createDirectory(at: backup, withIntermediateDirectories: true)
            try await server.services.sqlite.pool.writeWithoutTransaction { db in
                try db.execute(sql: "VACUUM INTO ?", arguments: [backup.path + "/faceid.sqlite"])
            }
            try FileManager.default.copyItem(atPath: server.configuration.dataDirectory + "/" + SQLiteKeyVault.fileName,
                                             toPath: backup.path + "/keys-before.sqlite")
            // And the index, which a copy of the whole folder takes too.
            try server.services.index.database.sync()
            try FileManager.default.createDirectory(at: backup.appendingPathComponent("index-before"), withIntermediateDirectories: true)
            for file in ["data.mdb", IndexService.sealingFile] {
                try FileManager.default.copyItem(atPath: server.configuration.indexPath + "/" + file, toPath: backup.path + "/index-before/" + file)
            }
            let deleted = try await client.call(.delete, "/company", as: doomed.caller,
                                                json: Self.deletion(confirmation: "delete Doomed Co"))
            #expect(deleted.status == .ok, "\(deleted.text)")
            try FileManager.default.copyItem(atPath: server.configuration.dataDirectory + "/" + SQLiteKeyVault.fileName,
                                             toPath: backup.path + "/" + SQLiteKeyVault.fileName)
        }
        let (doomed, kept, faces) = ids.withLock { $0 }
        try #require(faces.count == 3)
        let old = try Store(path: backup.path + "/faceid.sqlite")
        defer { try? old.close() }
        let sealed: [(id: Int64, sealed: Data)] = try await old.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, sealedEncoding FROM faces WHERE companyID = ? ORDER BY id", arguments: [doomed])
                .map { row in (id: row["id"], sealed: row["sealedEncoding"]) }
        }
        #expect(sealed.map { $0.id } == faces)
        let wrapped = try #require(try await old.wrappedKey(companyID: doomed))

        // The old store beside the new vault, with the right master key: the company's key does not open, so its faces do not.
        let now = KeyRing(master: master, vault: try SQLiteKeyVault(path: backup.path + "/" + SQLiteKeyVault.fileName))
        try await now.loadSecrets()
        #expect(throws: ServiceError.self) { try now.sealer(companyID: doomed, wrappedKey: wrapped) }
        await #expect(throws: (any Error).self) { try await now.loadSealer(companyID: doomed, wrappedKey: wrapped) }
        #expect(try await now.isShredded(companyID: doomed, wrappedKey: wrapped))
        // The start check names it and goes on: the other company opens.
        #expect(try await now.verify(against: old) == [doomed])
        let keptKey = try #require(try await old.wrappedKey(companyID: kept))
        #expect((try? now.sealer(companyID: kept, wrappedKey: keptKey)) != nil)

        // Beside the vault as it was before the deletion, the same bytes open: the destroyed secret is the whole difference.
        let before = KeyRing(master: master, vault: try SQLiteKeyVault(path: backup.path + "/keys-before.sqlite"))
        try await before.loadSecrets()
        let sealer = try before.sealer(companyID: doomed, wrappedKey: wrapped)
        for face in sealed {
            #expect(FaceEncoding.floats(try sealer.open(face.sealed, recordID: "face:\(face.id)")) != nil)
        }

        // The old index copy: the company's collections are sealed under a key derived from its data key, so they do not open
        // beside the new vault either — and do beside the old one.
        let collection = IndexSpace.all(.dlib).collectionName(doomed)
        do {
            let oldIndex = try VectorDatabase(path: backup.path + "/index-before", sealer: now.indexSealer())
            #expect(try oldIndex.collectionNames().contains(collection))
            #expect(throws: VectorIndexError.keyUnavailable("vector record of \(collection)")) {
                _ = try oldIndex.collection(collection).vector(for: UInt64(faces[0]))
            }
            #expect(try await !now.prepareIndexKey(companyID: doomed, wrappedKey: wrapped))
        }
        do {
            #expect(try await before.prepareIndexKey(companyID: doomed, wrappedKey: wrapped))
            let oldIndex = try VectorDatabase(path: backup.path + "/index-before", sealer: before.indexSealer())
            #expect(try oldIndex.collection(collection).vector(for: UInt64(faces[0]))?.count == 128)
        }

        // A server started on the old store and the new vault: it starts, serves the other company, and holds nothing of
        // the deleted one in its index.
        var configuration = server.configuration
        configuration.dataDirectory = backup.path
        configuration.auditHeadPath = backup.path + "/audit-head"
        var logger = Logger(label: "faceid-test")
        logger.logLevel = .critical
        let keyRing = KeyRing(master: master, vault: try old.keyVault(dataDirectory: backup.path))
        try await keyRing.loadSecrets()
        #expect(try await keyRing.verify(against: old) == [doomed])
        let services = try await AppServices.assemble(configuration: configuration, store: old, keyRing: keyRing,
                                                      metrics: PrometheusCollectorRegistry(), logger: logger, faces: TestServer.sharedFaces)
        try await services.index.start()
        #expect(try services.index.collection(doomed).count == 0)
        #expect(try services.index.collection(kept).count == 1)
        #expect(try await services.store.quarantinedFaceCount() == 0)
    }

    /// Keys wrapped before the vault existed (the master key alone) move into it at start: the same data key, so nothing
    /// sealed changes; a second start finds nothing to move.
    @Test(TestServer.sqliteOnly) func legacyKeysAreRewrappedIntoTheVault() async throws {
        let server = try await TestServer()
        let master = try #require(server.configuration.masterKey)
        try await server.run { client in
            let tenant = try await client.register("Legacy Co")
            #expect(try await PrivacyTests.importFace(client, tenant, ["external_id": "L-1"], seed: 3).status == .created)
            let services = server.services
            let current = try #require(try await services.store.wrappedKey(companyID: tenant.companyID))
            let dataKey = try services.keyRing.sealer(companyID: tenant.companyID, wrappedKey: current).key
            // The row as a version before the vault wrote it.
            let legacy = try dataKey.withUnsafeBytes { raw in
                try AES.GCM.seal(Data(raw), using: master.key, authenticating: Data("faceid.datakey.v1|company:\(tenant.companyID)".utf8)).combined!
            }
            #expect(KeyRing.wrapping(of: legacy) == .legacy)
            #expect(try await services.store.replaceWrappedKey(companyID: tenant.companyID, old: current, new: legacy))

            let restarted = KeyRing(master: master, vault: services.keyRing.vault)
            try await restarted.loadSecrets()
            #expect(try await restarted.verify(against: services.store) == [])
            #expect(try await restarted.rewrapLegacyKeys(in: services.store) == 1)
            let moved = try #require(try await services.store.wrappedKey(companyID: tenant.companyID))
            guard case .vaulted = KeyRing.wrapping(of: moved) else { Issue.record("still legacy"); return }
            #expect(try await restarted.rewrapLegacyKeys(in: services.store) == 0)
            let fresh = KeyRing(master: master, vault: services.keyRing.vault)
            try await fresh.loadSecrets()
            let opened = try fresh.sealer(companyID: tenant.companyID, wrappedKey: moved).key
            #expect(opened.withUnsafeBytes { Data($0) } == dataKey.withUnsafeBytes { Data($0) })
        }
    }

    /// A store copied without its key vault does not start: the message names the vault, not the master key.
    @Test(TestServer.sqliteOnly) func aStoreWithoutItsKeyVaultIsRefusedAtStart() async throws {
        let server = try await TestServer()
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-novault-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copy) }
        try await server.run { client in
            let owner = try await client.register("Acme")
            #expect(try await PrivacyTests.importFace(client, owner, ["external_id": "P1"], seed: 1).status == .created)
            try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
            try await server.services.sqlite.pool.writeWithoutTransaction { db in
                try db.execute(sql: "VACUUM INTO ?", arguments: [copy.path + "/faceid.sqlite"])
            }
        }
        var configuration = ServerConfiguration(dataDirectory: copy.path)
        configuration.plaintext = true
        configuration.masterKey = server.configuration.masterKey
        do {
            _ = try await buildApplication(configuration: configuration)
            Issue.record("started without the key vault")
        } catch let error as ConfigurationError {
            #expect(error.message.contains("key vault holds no company's secret"), "\(error)")
        }
    }
}
