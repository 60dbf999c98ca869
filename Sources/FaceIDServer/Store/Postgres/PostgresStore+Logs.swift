import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The access log and the audit chain on PostgreSQL: `LogRepository`.
///
/// The chain stays linear with any number of writers: an append locks the company's row, takes the next `audit_seq`
/// and the head hash from it, and moves both in the same transaction; `UNIQUE (company_id, audit_seq)` and
/// `UNIQUE (company_id, previous_hash)` make a fork impossible even for a writer that skipped the lock.
extension PostgresStore: LogRepository {
    /// Appends `event` for `companyID` inside the caller's transaction.
    func appendAudit(_ event: AuditEvent, companyID: Int64, on connection: PostgresConnection, now: Date) async throws {
        guard let (seq, head) = try await connection.run(
            "SELECT audit_seq, audit_head FROM companies WHERE id = \(companyID) FOR NO KEY UPDATE", logger: logger
        ).decode((Int64, Data?).self).elements().first else { throw StoreError.notFound(.company) }
        let record = try AuditLog.chained(event, companyID: companyID, after: head ?? AuditLog.genesis, now: now)
        let id = try await connection.run("""
            INSERT INTO audit_events (company_id, audit_seq, at_micros, actor, action, target, remote_address, user_agent, detail,
                                      previous_hash, hash)
            VALUES (\(companyID), \(seq + 1), \(record.atMicros), \(record.actor), \(record.action), \(record.target),
                    \(record.remoteAddress), \(record.userAgent), \(record.detail), \(record.previousHash), \(record.hash))
            RETURNING id
            """, logger: logger).decode(Int64.self).elements()[0]
        Self.appendedAudit?.note(AuditHead.Head(eventID: id, hash: record.hash), companyID: companyID)
        _ = try await connection.run("UPDATE companies SET audit_seq = \(seq + 1), audit_head = \(record.hash) WHERE id = \(companyID)",
                                       logger: logger)
    }

    func audit(_ event: AuditEvent, companyID: Int64) async throws {
        try await transaction { connection in try await appendAudit(event, companyID: companyID, on: connection, now: Date()) }
    }

    static let auditColumns = "id, company_id, at_micros, actor, action, target, remote_address, user_agent, detail, previous_hash, hash"

    static func auditRecords(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> [AuditRecord] {
        var found: [AuditRecord] = []
        for try await (id, company, at, actor, action, target, address, agent, detail, previous, hash)
            in rows.decode((Int64, Int64, Int64, String, String, String, String, String, String, Data, Data).self) {
            found.append(AuditRecord(id: id, companyID: company, atMicros: at, actor: actor, action: action, target: target,
                                     remoteAddress: address, userAgent: agent, detail: detail, previousHash: previous, hash: hash))
        }
        return found
    }

    /// Newest first.
    func auditEvents(companyID: Int64, filter: Store.AuditFilter) async throws -> [AuditRecord] {
        var query = Statement("SELECT \(Self.auditColumns) FROM audit_events")
        query.append(" WHERE company_id = ?", companyID)
        if let from = filter.from { query.append(" AND at_micros >= ?", Int64(from.timeIntervalSince1970 * 1e6)) }
        if let to = filter.to { query.append(" AND at_micros <= ?", Int64(to.timeIntervalSince1970 * 1e6)) }
        if let actor = filter.actor { query.append(" AND (actor = ? OR actor LIKE ?)", actor, actor + "|%") }
        if let action = filter.action { query.append(" AND action = ?", action) }
        if let target = filter.target { query.append(" AND target = ?", target) }
        if let beforeID = filter.beforeID { query.append(" AND id < ?", beforeID) }
        query.append(" ORDER BY id DESC LIMIT ?", Int64(filter.limit))
        return try await Self.auditRecords(try await fetch(query.query, logger: logger))
    }

    /// The chain walked in sequence order — every link, every hash, and no gap in the sequence — then checked against
    /// its signed head kept outside the store.
    func verifyAudit(companyID: Int64, head: AuditHead) async throws
        -> (chain: AuditLog.Verification, head: AuditHead.Status, eventsAfterHead: Int) {
        let recorded = head.read(companyID: companyID)
        let rows = try await fetch("""
            SELECT audit_seq, \(unescaped: Self.auditColumns) FROM audit_events WHERE company_id = \(companyID) ORDER BY audit_seq
            """, logger: logger)
        var previous = AuditLog.genesis
        var count = 0
        var chain = AuditLog.Verification(intact: true, eventCount: 0, firstBrokenID: nil)
        var events: [(id: Int64, hash: Data)] = []
        for try await (seq, id, company, at, actor, action, target, address, agent, detail, previousHash, hash)
            in rows.decode((Int64, Int64, Int64, Int64, String, String, String, String, String, String, Data, Data).self) {
            count += 1
            events.append((id, hash))
            let record = AuditRecord(id: id, companyID: company, atMicros: at, actor: actor, action: action, target: target,
                                     remoteAddress: address, userAgent: agent, detail: detail, previousHash: previousHash, hash: hash)
            if chain.intact && (seq != Int64(count) || previousHash != previous || AuditLog.hash(of: record) != hash) {
                chain = AuditLog.Verification(intact: false, eventCount: count, firstBrokenID: id)
            }
            previous = hash
        }
        if chain.intact { chain.eventCount = count }
        let status: AuditHead.Status
        var after = 0
        switch recorded {
        case nil:
            status = events.isEmpty ? .empty : .missing
        case .failure?:
            status = .invalid
        case .success(let anchor)?:
            if let index = events.firstIndex(where: { $0.id == anchor.eventID }) {
                status = events[index].hash == anchor.hash ? .anchored : .mismatch
                after = status == .anchored ? events.count - index - 1 : 0
            } else {
                status = .truncated
            }
        }
        return (chain, status, after)
    }

    // MARK: Access log

    func appendAccess(_ entry: AccessRecord, retentionDays: Int) async throws {
        try await transaction { connection in
            _ = try await connection.run("""
                INSERT INTO access_log (company_id, at_micros, actor, device_id, location, probe_sha256, decision, person_id, distance,
                                        face_count, latency_ms)
                VALUES (\(entry.companyID), \(entry.atMicros), \(entry.actor), \(entry.deviceID), \(entry.location), \(entry.probeSHA256),
                        \(entry.decision), \(entry.personID), \(entry.distance), \(entry.faceCount), \(entry.latencyMs))
                """, logger: logger)
            let cutoff = entry.atMicros - Int64(retentionDays) * 86_400 * 1_000_000
            _ = try await connection.run("DELETE FROM access_log WHERE company_id = \(entry.companyID) AND at_micros < \(cutoff)",
                                           logger: logger)
            if entry.decision == "match", let personID = entry.personID {
                // The person's last interaction, for the biometric retention schedule (a person deleted meanwhile: nothing).
                let at = Date(timeIntervalSince1970: Double(entry.atMicros) / 1e6)
                _ = try await connection.run("""
                    INSERT INTO person_activity (person_id, company_id, last_seen_at)
                    SELECT id, company_id, \(at) FROM persons WHERE id = \(personID) AND company_id = \(entry.companyID)
                    ON CONFLICT (person_id) DO UPDATE SET last_seen_at = GREATEST(person_activity.last_seen_at, EXCLUDED.last_seen_at)
                    """, logger: logger)
            }
        }
    }

    func overview(companyID: Int64, sinceMicros: Int64, offsetMicros: Int64, topLocations: Int) async throws -> Store.Overview {
        try await client.withConnection { connection in
            var overview = Store.Overview()
            func count(_ query: PostgresQuery) async throws -> Int {
                Int(try await connection.run(query, logger: logger).decode(Int64.self).elements().first ?? 0)
            }
            overview.persons = try await count("SELECT count(*) FROM persons WHERE company_id = \(companyID) AND deleted_at IS NULL")
            overview.faces = try await count("SELECT count(*) FROM faces WHERE company_id = \(companyID)")
            overview.devices = try await count("SELECT count(*) FROM devices WHERE company_id = \(companyID)")
            for try await (day, decision, n) in try await connection.run("""
                SELECT (at_micros + \(offsetMicros)) / 86400000000 AS day, decision, count(*) FROM access_log
                WHERE company_id = \(companyID) AND at_micros >= \(sinceMicros) GROUP BY day, decision ORDER BY day
                """, logger: logger).decode((Int64, String, Int64).self) {
                overview.perDay.append((day: day, decision: decision, count: Int(n)))
            }
            for try await (location, n) in try await connection.run("""
                SELECT location, count(*) AS n FROM access_log WHERE company_id = \(companyID) AND at_micros >= \(sinceMicros)
                GROUP BY location ORDER BY n DESC, location LIMIT \(Int64(topLocations))
                """, logger: logger).decode((String, Int64).self) {
                overview.locations.append((location: location, count: Int(n)))
            }
            return overview
        }
    }

    /// Newest first.
    func accessEntries(companyID: Int64, filter: Store.AccessFilter) async throws -> [AccessRecord] {
        var query = Statement("""
            SELECT id, company_id, at_micros, actor, device_id, location, probe_sha256, decision, person_id, distance, face_count, latency_ms
            FROM access_log
            """)
        query.append(" WHERE company_id = ?", companyID)
        if let personID = filter.personID { query.append(" AND person_id = ?", personID) }
        if let deviceID = filter.deviceID { query.append(" AND device_id = ?", deviceID) }
        if let decision = filter.decision { query.append(" AND decision = ?", decision) }
        if let from = filter.from { query.append(" AND at_micros >= ?", Int64(from.timeIntervalSince1970 * 1e6)) }
        if let to = filter.to { query.append(" AND at_micros <= ?", Int64(to.timeIntervalSince1970 * 1e6)) }
        if let beforeID = filter.beforeID { query.append(" AND id < ?", beforeID) }
        query.append(" ORDER BY id DESC LIMIT ?", Int64(filter.limit))
        var found: [AccessRecord] = []
        for try await (id, company, at, actor, device, location, sha, decision, person, distance, faces, latency)
            in try await fetch(query.query, logger: logger)
                .decode((Int64, Int64, Int64, String, Int64?, String, String, String, Int64?, Double?, Int, Double).self) {
            found.append(AccessRecord(id: id, companyID: company, atMicros: at, actor: actor, deviceID: device, location: location,
                                      probeSHA256: sha, decision: decision, personID: person, distance: distance, faceCount: faces,
                                      latencyMs: latency))
        }
        return found
    }
}

extension AsyncSequence {
    /// Every element, in order.
    func elements() async throws -> [Element] {
        var all: [Element] = []
        for try await element in self { all.append(element) }
        return all
    }
}

/// The audit events one transaction appended: the newest per company.
final class AppendedAuditEvents: Sendable {
    private let events = Mutex<[Int64: AuditHead.Head]>([:])

    func note(_ head: AuditHead.Head, companyID: Int64) {
        events.withLock { $0[companyID] = head }
    }

    var newest: [Int64: AuditHead.Head] { events.withLock { $0 } }
}
