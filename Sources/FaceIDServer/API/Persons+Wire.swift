import Foundation
import Hummingbird

struct CreateGroupRequest: Decodable {
    var name: String
    var description: String?
}

struct GroupView: ResponseEncodable, Sendable {
    var id: Int64
    var name: String
    var description: String
    var personCount: Int
    var createdAt: String

    init(_ record: GroupRecord, personCount: Int) {
        id = record.id!
        name = record.name
        description = record.description
        self.personCount = personCount
        createdAt = Timestamp.format(record.createdAt)
    }
}

struct GroupResponse: ResponseEncodable, Sendable {
    var success = true
    var group: GroupView
}

struct GroupList: ResponseEncodable, Sendable {
    var success = true
    var groups: [GroupView]
}

struct CreatePersonRequest: Decodable {
    var externalId: String?
    var fullName: String
    var tags: [String]?
    var groups: [String]?
    var metadata: [String: JSONValue]?
}

/// Absent fields keep their value; `external_id: ""` clears it.
struct UpdatePersonRequest: Decodable {
    var externalId: String?
    var fullName: String?
    var tags: [String]?
    var groups: [String]?
    var metadata: [String: JSONValue]?
}

struct PersonView: ResponseEncodable, Sendable {
    var id: Int64
    var externalId: String?
    var fullName: String
    var tags: [String]
    var groups: [String]
    var metadata: [String: JSONValue]
    var createdAt: String
    var updatedAt: String

    init(_ person: Store.Person) {
        id = person.record.id!
        externalId = person.record.externalID
        fullName = person.record.fullName
        tags = person.record.tagList
        groups = person.groups
        metadata = (try? JSONDecoder().decode([String: JSONValue].self, from: Data(person.record.metadata.utf8))) ?? [:]
        createdAt = Timestamp.format(person.record.createdAt)
        updatedAt = Timestamp.format(person.record.updatedAt)
    }
}

struct PersonResponse: ResponseEncodable, Sendable {
    var success = true
    var person: PersonView
}

struct PersonPage: ResponseEncodable, Sendable {
    var success = true
    var persons: [PersonView]
    /// Pass as `cursor` for the next page; absent on the last page.
    var nextCursor: String?
}
