import Foundation

/// The console overview's figures: a company's counts, and its searches per day — cut in the caller's time zone — by
/// decision and per location, from the access log.
struct AccessStatistics: Sendable {
    let store: any LogRepository
    let clock: ServerClock

    /// One day's searches by decision (answered as it is: `{date, match, ambiguous, unknown, no_face}`).
    struct Day: Encodable, Sendable, Equatable {
        /// YYYY-MM-DD in the caller's time zone.
        var date: String
        var match = 0
        var ambiguous = 0
        var unknown = 0
        var noFace = 0

        var total: Int { match + ambiguous + unknown + noFace }
    }

    struct Overview: Sendable {
        var persons: Int
        var faces: Int
        var devices: Int
        /// Oldest first, today last; a day without searches is there with zeros.
        var days: [Day]
        /// The busiest locations over the days, busiest first ("" = none given).
        var locations: [(location: String, count: Int)]
    }

    static let dayMicros: Int64 = 86_400_000_000

    /// The `days` days ending today, where "today" and every day boundary are those of `utcOffsetMinutes` east of UTC.
    func overview(companyID: Int64, days: Int, utcOffsetMinutes: Int, topLocations: Int = 5) async throws -> Overview {
        let offsetMicros = Int64(utcOffsetMinutes) * 60_000_000
        let today = (Int64(clock.now.timeIntervalSince1970 * 1e6) + offsetMicros) / Self.dayMicros
        let first = today - Int64(days - 1)
        let found = try await store.overview(companyID: companyID, sinceMicros: first * Self.dayMicros - offsetMicros,
                                             offsetMicros: offsetMicros, topLocations: topLocations)
        return Overview(persons: found.persons, faces: found.faces, devices: found.devices,
                        days: Self.fill(found.perDay, from: first, through: today), locations: found.locations)
    }

    /// One entry per day from `first` through `last` (days since 1970-01-01), zero where nothing was searched.
    static func fill(_ counts: [(day: Int64, decision: String, count: Int)], from first: Int64, through last: Int64) -> [Day] {
        var days = (first...last).map { Day(date: Self.date(ofDay: $0)) }
        for entry in counts where (first...last).contains(entry.day) {
            let index = Int(entry.day - first)
            switch entry.decision {
            case "match": days[index].match += entry.count
            case "ambiguous": days[index].ambiguous += entry.count
            case "unknown": days[index].unknown += entry.count
            case "no_face": days[index].noFace += entry.count
            default: break
            }
        }
        return days
    }

    /// `YYYY-MM-DD` of day `day` counted from 1970-01-01.
    static func date(ofDay day: Int64) -> String {
        var seconds = time_t(day * 86_400)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
    }
}
