import Foundation
import Hummingbird

struct LocationCountView: Encodable, Sendable {
    var location: String
    var count: Int
}

struct OverviewResponse: ResponseEncodable, Sendable {
    var success = true
    var persons: Int
    var faces: Int
    var devices: Int
    var searchesToday: Int
    var days: [AccessStatistics.Day]
    var locations: [LocationCountView]

    init(_ overview: AccessStatistics.Overview) {
        (persons, faces, devices) = (overview.persons, overview.faces, overview.devices)
        searchesToday = overview.days.last?.total ?? 0
        days = overview.days
        locations = overview.locations.map { LocationCountView(location: $0.location, count: $0.count) }
    }
}
