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
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // Writers queue on GRDB's writer; the timeout only covers another process holding the file.
        configuration.busyMode = .timeout(10)
        configuration.label = "faceid.store"
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// Whether the store answers a query (`/readyz`).
    func isReady() async -> Bool {
        (try? await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }

    /// Checkpoints the WAL and closes every connection.
    public func close() throws {
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        try pool.close()
    }
}

/// Closes the store when the service group shuts down (after the HTTP server has drained).
struct StoreService: Service {
    let store: Store
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        do {
            try store.close()
            logger.info("store closed")
        } catch {
            logger.error("store did not close cleanly", metadata: ["error": "\(String(describing: type(of: error)))"])
        }
    }
}
