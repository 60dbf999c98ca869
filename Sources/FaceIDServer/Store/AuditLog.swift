import Crypto
import Foundation
import GRDB

/// One audit event as a caller describes it; `AuditLog.append` chains and stores it.
struct AuditEvent: Sendable {
    var action: String
    var actor: String
    var target: String = ""
    var detail: [String: String] = [:]
    var origin: RequestOrigin
}

extension AuditEvent {
    /// Faces added in one transaction: one face, its own event (`face.create`); a bulk import, one event naming every face
    /// and person it touched (`face.import`).
    static func facesAdded(_ added: [FaceRecord], companyID: Int64, source: String, actor: String, origin: RequestOrigin) -> AuditEvent {
        added.count == 1
            ? AuditEvent(action: "face.create", actor: actor, target: "face:\(added[0].id!)",
                         detail: ["person": "person:\(added[0].personID)", "source": source], origin: origin)
            : AuditEvent(action: "face.import", actor: actor, target: "company:\(companyID)",
                         detail: ["count": String(added.count), "faces": AuditLog.idList(added.map { $0.id! }),
                                  "persons": AuditLog.idList(Array(Set(added.map(\.personID)))), "source": source],
                         origin: origin)
    }
}

/// Where a request came from, for the audit log.
struct RequestOrigin: Sendable {
    var remoteAddress: String
    var userAgent: String

    static let unknown = RequestOrigin(remoteAddress: "", userAgent: "")
}

/// The append-only, hash-chained audit log.
///
/// Each row stores the SHA-256 of the previous row of its company and a SHA-256 over its own fields
/// plus that previous hash, so changing, removing or reordering any row breaks `verify`.
/// `append` runs inside the caller's write transaction: an event is stored exactly when its change is.
enum AuditLog {
    static let genesis = Data(repeating: 0, count: 32)

    /// Appends `event` for `companyID` in the current transaction.
    /// The company's newest hash: a seek on `auditEvents_company_id`, whatever the chain's length.
    static let previousHashSQL = "SELECT hash FROM auditEvents WHERE companyID = ? ORDER BY id DESC LIMIT 1"

    static func append(_ event: AuditEvent, companyID: Int64, db: Database, now: Date = Date()) throws {
        let previous = try Data.fetchOne(db, sql: previousHashSQL, arguments: [companyID]) ?? genesis
        var record = try chained(event, companyID: companyID, after: previous, now: now)
        try record.insert(db)
    }

    /// The row of `event`, chained after `previous` (both stores build it here, so their hashes agree).
    static func chained(_ event: AuditEvent, companyID: Int64, after previous: Data, now: Date) throws -> AuditRecord {
        let detail = String(data: try JSONSerialization.data(withJSONObject: event.detail, options: [.sortedKeys]), encoding: .utf8)!
        var record = AuditRecord(
            id: nil, companyID: companyID, atMicros: Int64((now.timeIntervalSince1970 * 1_000_000).rounded()),
            actor: event.actor, action: event.action, target: event.target,
            remoteAddress: event.origin.remoteAddress, userAgent: String(event.origin.userAgent.prefix(256)),
            detail: detail, previousHash: previous, hash: Data()
        )
        record.hash = hash(of: record)
        return record
    }

    /// Ids for an audit detail, ascending, runs written as ranges: `"4,7-9,12"` (a bulk import's ids are mostly one run).
    static func idList(_ ids: [Int64]) -> String {
        let sorted = ids.sorted()
        var parts: [String] = []
        var start = 0
        while start < sorted.count {
            var end = start
            while end + 1 < sorted.count, sorted[end + 1] == sorted[end] + 1 { end += 1 }
            parts.append(end == start ? String(sorted[start]) : "\(sorted[start])-\(sorted[end])")
            start = end + 1
        }
        return parts.joined(separator: ",")
    }

    /// SHA-256 over the fields of `record` (length-prefixed, so no two field lists collide) and its previous hash.
    static func hash(of record: AuditRecord) -> Data {
        var hasher = SHA256()
        func add(_ text: String) {
            let bytes = Array(text.utf8)
            withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { hasher.update(bufferPointer: $0) }
            hasher.update(data: bytes)
        }
        add("faceid.audit.v1")
        add(String(record.companyID))
        add(String(record.atMicros))
        add(record.actor)
        add(record.action)
        add(record.target)
        add(record.remoteAddress)
        add(record.userAgent)
        add(record.detail)
        hasher.update(data: record.previousHash)
        return Data(hasher.finalize())
    }

    /// The result of walking a company's chain.
    struct Verification: Sendable {
        var intact: Bool
        var eventCount: Int
        /// The first event whose link or hash does not match.
        var firstBrokenID: Int64?
    }

    /// Walks the whole chain of `companyID` in order and recomputes every link.
    /// - Complexity: O(events of the company).
    static func verify(companyID: Int64, db: Database) throws -> Verification {
        let cursor = try AuditRecord.filter(Column("companyID") == companyID).order(Column("id")).fetchCursor(db)
        var previous = genesis
        var count = 0
        while let record = try cursor.next() {
            count += 1
            if record.previousHash != previous || hash(of: record) != record.hash {
                return Verification(intact: false, eventCount: count, firstBrokenID: record.id)
            }
            previous = record.hash
        }
        return Verification(intact: true, eventCount: count, firstBrokenID: nil)
    }
}
