import Foundation
import GRDB

/// The access log: every search, filterable, purged past the company's retention.
extension Store {
    struct AccessFilter: Sendable {
        var personID: Int64?
        var deviceID: Int64?
        var decision: String?
        var from: Date?
        var to: Date?
        /// Only entries with a smaller id (the cursor of the previous page).
        var beforeID: Int64?
        var limit: Int
    }

    /// Appends `entry` and, in the same transaction, drops the company's entries older than `retentionDays`
    /// (an indexed range delete: nearly free when there is nothing to drop).
    func appendAccess(_ entry: AccessRecord, retentionDays: Int) async throws {
        try await pool.write { db in
            var entry = entry
            try entry.insert(db)
            let cutoff = entry.atMicros - Int64(retentionDays) * 86_400 * 1_000_000
            try db.execute(sql: "DELETE FROM accessLog WHERE companyID = ? AND atMicros < ?", arguments: [entry.companyID, cutoff])
        }
    }

    /// Newest first.
    func accessEntries(companyID: Int64, filter: AccessFilter) async throws -> [AccessRecord] {
        try await pool.read { db in
            var request = AccessRecord.filter(Column("companyID") == companyID)
            if let personID = filter.personID { request = request.filter(Column("personID") == personID) }
            if let deviceID = filter.deviceID { request = request.filter(Column("deviceID") == deviceID) }
            if let decision = filter.decision { request = request.filter(Column("decision") == decision) }
            if let from = filter.from { request = request.filter(Column("atMicros") >= Int64(from.timeIntervalSince1970 * 1e6)) }
            if let to = filter.to { request = request.filter(Column("atMicros") <= Int64(to.timeIntervalSince1970 * 1e6)) }
            if let beforeID = filter.beforeID { request = request.filter(Column("id") < beforeID) }
            return try request.order(Column("id").desc).limit(filter.limit).fetchAll(db)
        }
    }
}
