import Foundation
import Hummingbird

/// `GET /stats/overview`: the console's overview — people, faces, kiosks, searches today, searches per day by decision
/// and the busiest locations, in the caller's time zone (`utc_offset`, minutes east of UTC).
struct StatsController {
    let services: AppServices

    static let decisions = ["match", "ambiguous", "unknown", "no_face"]

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.get, "/stats/overview", .readAccessLog, use: overview)
    }

    @Sendable func overview(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> OverviewResponse {
        let days = try request.query("days", in: 1...90) ?? 30
        let offsetMinutes = try request.query("utc_offset", in: -840...840) ?? 0
        let offsetMicros = Int64(offsetMinutes) * 60_000_000
        let nowMicros = Int64(services.clock.now.timeIntervalSince1970 * 1e6)
        let today = (nowMicros + offsetMicros) / Self.dayMicros
        let firstDay = today - Int64(days - 1)
        let found = try await services.store.overview(
            companyID: principal.companyID, sinceMicros: firstDay * Self.dayMicros - offsetMicros, offsetMicros: offsetMicros,
            topLocations: 5)
        let perDay = Self.fill(found.perDay, from: firstDay, through: today)
        return OverviewResponse(
            persons: found.persons, faces: found.faces, devices: found.devices,
            searchesToday: perDay.last.map { $0.match + $0.ambiguous + $0.unknown + $0.noFace } ?? 0,
            days: perDay, locations: found.locations.map { LocationCount(location: $0.location, count: $0.count) })
    }

    static let dayMicros: Int64 = 86_400_000_000

    /// One entry per day from `first` through `last` (days since 1970-01-01), zero where nothing was searched.
    static func fill(_ counts: [(day: Int64, decision: String, count: Int)], from first: Int64, through last: Int64) -> [DayCount] {
        var byDay: [Int64: DayCount] = [:]
        for day in first...last {
            byDay[day] = DayCount(date: Timestamp.day(day))
        }
        for entry in counts where byDay[entry.day] != nil {
            switch entry.decision {
            case "match": byDay[entry.day]!.match += entry.count
            case "ambiguous": byDay[entry.day]!.ambiguous += entry.count
            case "unknown": byDay[entry.day]!.unknown += entry.count
            case "no_face": byDay[entry.day]!.noFace += entry.count
            default: break
            }
        }
        return (first...last).map { byDay[$0]! }
    }
}

struct DayCount: Codable, Sendable, Equatable {
    /// YYYY-MM-DD in the caller's time zone.
    var date: String
    var match = 0
    var ambiguous = 0
    var unknown = 0
    var noFace = 0
}

struct LocationCount: Codable, Sendable {
    var location: String
    var count: Int
}

struct OverviewResponse: ResponseEncodable, Sendable {
    var persons: Int
    var faces: Int
    var devices: Int
    var searchesToday: Int
    var days: [DayCount]
    var locations: [LocationCount]
}
