import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// The system of record: one SQLite database (WAL mode) behind a GRDB `DatabasePool`.
///
/// Every method that touches a company's data takes its `companyID` and puts it in the `WHERE`
/// clause, so a handler cannot forget tenant scoping; another company's id simply finds nothing.
public final class Store: Sendable {
    let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    ///
    /// The database and its `-wal` and `-shm` files are the owner's alone (0600): names, emails, password hashes and the
    /// audit log must not rest on the folder's mode. SQLite creates the WAL and shared-memory files with the database
    /// file's permissions, so the database is created 0600 before SQLite opens it, and older files are narrowed.
    public init(path: String) throws {
        try Self.restrictFiles(of: path)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // Writers queue on GRDB's writer; the timeout only covers another process holding the file.
        configuration.busyMode = .timeout(10)
        configuration.label = "faceid.store"
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// The permissions of every store file: read and write for the owner only.
    static let fileMode: Int = 0o600

    private static func restrictFiles(of path: String) throws {
        let files = FileManager.default
        if !files.fileExists(atPath: path) {
            guard files.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: fileMode]) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        }
        for file in [path, path + "-wal", path + "-shm"] where files.fileExists(atPath: file) {
            try files.setAttributes([.posixPermissions: fileMode], ofItemAtPath: file)
        }
    }

    /// Whether the store answers a query (`/readyz`).
    func isReady() async -> Bool {
        (try? await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }

    /// Deletes the company's row `id` of `R` with its audit event: `<audit>.delete` on `<audit>:<id>`, the row's name in the
    /// detail. Another company's id is `notFound(entity)`, like a missing one.
    func deleteOwned<R: FetchableRecord & TableRecord & Sendable>(
        _ type: R.Type, id: Int64, companyID: Int64, entity: StoreError.Entity, audit: String, name: KeyPath<R, String> & Sendable,
        actor: String, origin: RequestOrigin
    ) async throws {
        try await pool.write { db in
            guard let row = try R.owned(id, companyID: companyID, db: db) else { throw StoreError.notFound(entity) }
            _ = try R.deleteOne(db, key: id)
            try AuditLog.append(AuditEvent(action: "\(audit).delete", actor: actor, target: "\(audit):\(id)",
                                           detail: ["name": row[keyPath: name]], origin: origin),
                                companyID: companyID, db: db)
        }
    }

    /// Checkpoints the WAL and closes every connection.
    public func close() throws {
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        try pool.close()
    }
}

/// Closes the store when the service group shuts down (after the HTTP server has drained), after `beforeClose`
/// (the index service stops a running rebuild there); `afterClose` then stops PostgreSQL's connection pool.
struct StoreService: Service {
    let store: any StoreLifecycle
    let logger: Logger
    var beforeClose: @Sendable () async -> Void = {}
    var afterClose: @Sendable () async -> Void = {}

    func run() async throws {
        try? await gracefulShutdown()
        await beforeClose()
        do {
            try await store.shutdown()
            logger.info("store closed")
        } catch {
            logger.error("store did not close cleanly", metadata: ["error": "\(String(describing: type(of: error)))"])
        }
        await afterClose()
    }
}
