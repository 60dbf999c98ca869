import Foundation
import GRDB

/// Where the secrets live without which no company data key opens: outside the store and outside its backups.
///
/// A company's data key is wrapped under a key derived from the master key and the company's secret (`KeyRing`). The store
/// keeps the wrapped key; this vault keeps the secret. Destroying the secret (a company's deletion) makes every copy of the
/// wrapped key unopenable, the store's backups included, even with the master key. The vault is backed up on its own, with a
/// retention shorter than the store's backups (README, "Privacy").
protocol KeyVault: Sendable {
    /// Every secret, by key id.
    func secrets() async throws -> [Data: Data]
    /// One secret, or nil when it was destroyed or never was here.
    func secret(keyID: Data) async throws -> Data?
    /// Stores a new secret durably (before the wrapped key that needs it is committed).
    func insert(keyID: Data, secret: Data, at: Date) async throws
    /// Destroys the secret: after this returns, no copy of this vault made from now on holds it.
    func destroy(keyID: Data) async throws
}

/// The embedded vault: `keys.sqlite` beside `faceid.sqlite` in the data folder, owner-only (0600).
///
/// A rollback journal, not WAL, and `secure_delete`: a destroyed secret's page is overwritten with zeros in the file at
/// commit, and no WAL file keeps an older copy of it.
final class SQLiteKeyVault: KeyVault {
    private let queue: DatabaseQueue

    /// The vault's file name in the data folder.
    static let fileName = "keys.sqlite"

    init(path: String) throws {
        let files = FileManager.default
        if !files.fileExists(atPath: path) {
            guard files.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: Store.fileMode]) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        }
        try files.setAttributes([.posixPermissions: Store.fileMode], ofItemAtPath: path)
        var configuration = Configuration()
        configuration.label = "faceid.keys"
        configuration.busyMode = .timeout(10)
        configuration.journalMode = .default
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA secure_delete = ON; PRAGMA synchronous = FULL")
        }
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS companySecrets (keyID BLOB PRIMARY KEY, secret BLOB NOT NULL, createdAt DOUBLE NOT NULL)
                """)
        }
    }

    func secrets() async throws -> [Data: Data] {
        try await queue.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT keyID, secret FROM companySecrets").map {
                (Data($0["keyID"] as Data), Data($0["secret"] as Data))
            })
        }
    }

    func secret(keyID: Data) async throws -> Data? {
        try await queue.read { db in try Data.fetchOne(db, sql: "SELECT secret FROM companySecrets WHERE keyID = ?", arguments: [keyID]) }
    }

    func insert(keyID: Data, secret: Data, at: Date) async throws {
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO companySecrets (keyID, secret, createdAt) VALUES (?, ?, ?)",
                           arguments: [keyID, secret, at.timeIntervalSince1970])
        }
    }

    func destroy(keyID: Data) async throws {
        try await queue.write { db in
            try db.execute(sql: "DELETE FROM companySecrets WHERE keyID = ?", arguments: [keyID])
        }
    }

    func close() throws { try queue.close() }
}
