import Foundation
import Hummingbird

struct DayCountView: Encodable, Sendable {
    var date: String
    var match: Int
    var ambiguous: Int
    var unknown: Int
    var noFace: Int
}

struct LocationCountView: Encodable, Sendable {
    var location: String
    var count: Int
}

struct OverviewResponse: ResponseEncodable, Sendable {
    var persons: Int
    var faces: Int
    var devices: Int
    var searchesToday: Int
    var days: [DayCountView]
    var locations: [LocationCountView]

    init(_ overview: AccessStatistics.Overview) {
        (persons, faces, devices) = (overview.persons, overview.faces, overview.devices)
        searchesToday = overview.days.last?.total ?? 0
        days = overview.days.map {
            DayCountView(date: $0.date, match: $0.match, ambiguous: $0.ambiguous, unknown: $0.unknown, noFace: $0.noFace)
        }
        locations = overview.locations.map { LocationCountView(location: $0.location, count: $0.count) }
    }
}
