import Foundation
import Hummingbird

struct EmployeeInput: Decodable {
    var name: String
    var timekeeperId: String
    var externalId: String?
}

struct EmployeePatch: Decodable {
    var name: String?
    var timekeeperId: String?
    var externalId: String??
    var resigned: Bool?

    private enum CodingKeys: String, CodingKey {
        case name, timekeeperId, externalId, resigned
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        timekeeperId = try container.decodeIfPresent(String.self, forKey: .timekeeperId)
        // Present and null clears the external id; absent keeps it.
        externalId = container.contains(.externalId) ? .some(try container.decodeIfPresent(String.self, forKey: .externalId)) : nil
        resigned = try container.decodeIfPresent(Bool.self, forKey: .resigned)
    }
}

struct EmployeeView: ResponseEncodable, Sendable {
    var id: Int64
    var name: String
    var timekeeperId: String?
    var externalId: String?
    var active: Bool
    var deletedAt: String?
    var hasFaceRegistration: Bool
    var faceRegisteredAt: String?
    var faceCount: Int
    var createdAt: String
    var updatedAt: String

    init(_ employee: Store.Employee) {
        id = employee.record.id!
        name = employee.record.fullName
        timekeeperId = employee.record.timekeeperID
        externalId = employee.record.externalID
        active = employee.record.deletedAt == nil
        deletedAt = employee.record.deletedAt.map(Timestamp.format)
        hasFaceRegistration = employee.face != nil
        faceRegisteredAt = employee.face.map { Timestamp.format($0.registration) }
        faceCount = employee.faceCount
        createdAt = Timestamp.format(employee.record.createdAt)
        updatedAt = Timestamp.format(employee.record.updatedAt)
    }
}

struct EmployeeResponse: ResponseEncodable, Sendable {
    var success = true
    var employee: EmployeeView
}

struct EmployeeList: ResponseEncodable, Sendable {
    var success = true
    var employees: [EmployeeView]
    var nextCursor: String?
}

struct ImportEmployeesResponse: ResponseEncodable, Sendable {
    var success = true
    var created: Int
    var updated: Int
    var unchanged: Int
}
