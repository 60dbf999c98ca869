import Foundation
import Logging
import PostgresNIO

/// Transactions (with the audit heads they move) and what the server does with the store at start and at shutdown.
extension PostgresStore: StoreLifecycle {
    /// Runs `body` in a transaction (READ COMMITTED); the store's errors pass through, the transaction rolls back. After the
    /// commit, the audit heads move to the events it appended.
    ///
    /// - Parameter lockingCompany: the company whose row is locked first (FOR NO KEY UPDATE). Every transaction that changes
    ///   a company's persons or faces takes it before the feed's counter and the audit chain's head, in that order, so two
    ///   such transactions never wait for each other crosswise (a deadlock PostgreSQL would break by failing one).
    func transaction<R: Sendable>(lockingCompany: Int64? = nil, _ body: (PostgresConnection) async throws -> R) async throws -> R {
        let appended = AppendedAuditEvents()
        let result: R
        result = try await Self.$appendedAudit.withValue(appended) {
            try await inTransaction("BEGIN") { connection in
                if let lockingCompany {
                    _ = try await connection.run("SELECT 1 FROM companies WHERE id = \(lockingCompany) FOR NO KEY UPDATE", logger: logger)
                }
                return try await body(connection)
            }
        }
        if let head = auditHead.withLock({ $0 }) {
            for (companyID, newest) in appended.newest {
                do {
                    try head.record(newest, companyID: companyID)
                } catch {
                    logger.error("the audit head could not be recorded", metadata: ["company_id": "\(companyID)"])
                }
            }
        }
        return result
    }

    /// `body` between `begin` and COMMIT on one pooled connection; on an error, ROLLBACK — unless the connection itself was
    /// lost, when the server has rolled back already and postgres-nio 1.33 would wait for good for an answer to a statement
    /// sent on the dead connection (seen in the multi-node test: after `restart -m immediate`, one ROLLBACK stalled the
    /// company's index follower, and with it every write).
    func inTransaction<R: Sendable>(_ begin: String, _ body: (PostgresConnection) async throws -> R) async throws -> R {
        try await client.withConnection { connection in
            _ = try await connection.run(PostgresQuery(unsafeSQL: begin), logger: logger)
            do {
                let result = try await body(connection)
                _ = try await connection.run("COMMIT", logger: logger)
                return result
            } catch {
                if !Self.connectionLost(error) { _ = try? await connection.run("ROLLBACK", logger: logger) }
                throw error
            }
        }
    }

    /// Whether `error` says the connection is gone (nothing more can be sent on it).
    static func connectionLost(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
             .messageDecodingFailure, .unexpectedBackendMessage:
            return true
        default:
            return false
        }
    }

    /// The events the current transaction appended (its newest per company), for the audit heads after it commits.
    @TaskLocal static var appendedAudit: AppendedAuditEvents?

    func wrappedKeys() async throws -> [(companyID: Int64, wrapped: Data)] {
        try await fetch("SELECT id, wrapped_key FROM companies WHERE length(wrapped_key) > 0 ORDER BY id", logger: logger)
            .decode((Int64, Data).self).elements().map { (companyID: $0.0, wrapped: $0.1) }
    }

    /// As on SQLite: the first start with a head folder records every company's newest event (trust on first use); a later
    /// start that finds the folder empty does not trust the store again.
    func publishAuditHead(directory: String, node: String, master: MasterKey, logger: Logger) async throws -> AuditHead {
        let head = try AuditHead(directory: directory, master: master)
        if !head.holdsAnyHead {
            try await transaction { connection in
                if let established = try await connection.run("SELECT established_at FROM audit_head_nodes WHERE node = \(node)",
                                                                logger: logger).decode(Date.self).elements().first {
                    logger.error("""
                        the audit head folder \(directory) holds no heads, but heads were recorded since \(established): \
                        every audit chain reports its head missing; restore the folder from a backup
                        """)
                    return
                }
                for try await (companyID, id, hash) in try await connection.run("""
                    SELECT DISTINCT ON (company_id) company_id, id, hash FROM audit_events ORDER BY company_id, audit_seq DESC
                    """, logger: logger).decode((Int64, Int64, Data).self) {
                    try head.record(AuditHead.Head(eventID: id, hash: hash), companyID: companyID)
                }
                _ = try await connection.run("INSERT INTO audit_head_nodes (node, established_at) VALUES (\(node), now())", logger: logger)
            }
        }
        auditHead.withLock { $0 = head }
        return head
    }

    /// The pool stops with its service (`run`); nothing to close here.
    func shutdown() async throws {}
}
