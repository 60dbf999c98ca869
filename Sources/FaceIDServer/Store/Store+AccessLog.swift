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

    /// What the console's overview shows: the company's counts and its searches since a moment, by day and decision
    /// and by location.
    struct Overview: Sendable {
        var persons = 0
        var faces = 0
        var devices = 0
        /// Searches per (day, decision); a day is `(atMicros + offset) / 86,400,000,000` (days since 1970-01-01 in the
        /// caller's time zone).
        var perDay: [(day: Int64, decision: String, count: Int)] = []
        /// The most searched locations, busiest first ("" = no location given).
        var locations: [(location: String, count: Int)] = []
    }

    /// Counts in one read transaction; the per-day and per-location sums run on the log's (company, time) index.
    func overview(companyID: Int64, sinceMicros: Int64, offsetMicros: Int64, topLocations: Int) async throws -> Overview {
        try await pool.read { db in
            var overview = Overview()
            overview.persons = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM persons WHERE companyID = ? AND deletedAt IS NULL",
                                                arguments: [companyID]) ?? 0
            overview.faces = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM faces WHERE companyID = ?", arguments: [companyID]) ?? 0
            overview.devices = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices WHERE companyID = ?", arguments: [companyID]) ?? 0
            overview.perDay = try Row.fetchAll(db, sql: """
                SELECT (atMicros + ?) / 86400000000 AS day, decision, COUNT(*) AS n FROM accessLog
                WHERE companyID = ? AND atMicros >= ? GROUP BY day, decision ORDER BY day
                """, arguments: [offsetMicros, companyID, sinceMicros]).map { (day: $0["day"], decision: $0["decision"], count: $0["n"]) }
            overview.locations = try Row.fetchAll(db, sql: """
                SELECT location, COUNT(*) AS n FROM accessLog WHERE companyID = ? AND atMicros >= ?
                GROUP BY location ORDER BY n DESC, location LIMIT ?
                """, arguments: [companyID, sinceMicros, topLocations]).map { (location: $0["location"], count: $0["n"]) }
            return overview
        }
    }

    /// Appends `entry` and, in the same transaction, drops the company's entries older than `retentionDays`
    /// (an indexed range delete: nearly free when there is nothing to drop).
    func appendAccess(_ entry: AccessRecord, retentionDays: Int) async throws {
        try await pool.write { db in
            var entry = entry
            try entry.insert(db)
            if entry.decision == "match", let personID = entry.personID {
                try Self.touch(personID: personID, companyID: entry.companyID, at: Date(timeIntervalSince1970: Double(entry.atMicros) / 1e6), db: db)
            }
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
