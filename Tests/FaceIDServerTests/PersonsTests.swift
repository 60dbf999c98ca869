import Foundation
import Testing

@testable import FaceIDServer

@Suite("Persons and groups")
struct PersonsTests {
    @Test func personLifecycleWithGroupsTagsAndMetadata() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            #expect(try await client.call(.post, "/groups", as: owner.caller, json: JSON(["name": "Night shift"])).status == .created)
            #expect(try await client.call(.post, "/groups", as: owner.caller, json: JSON(["name": "Warehouse"])).status == .created)
            expectError(try await client.call(.post, "/groups", as: owner.caller, json: JSON(["name": "Warehouse"])), .conflict, "group_exists")

            let created = try await client.call(.post, "/persons", as: owner.caller, json: JSON([
                "external_id": "E-1001", "full_name": "Grace Hopper", "tags": ["forklift", "first-aid", "forklift"],
                "groups": ["Warehouse"], "metadata": ["badgeNumber": 42, "shift_start": "06:00", "nested": ["a": [1, 2.5]]],
            ]))
            #expect(created.status == .created, "\(created.text)")
            let person = created.object("person")
            let id = try #require((person["id"] as? NSNumber)?.int64Value)
            #expect(person["external_id"] as? String == "E-1001")
            #expect(person["tags"] as? [String] == ["forklift", "first-aid"])
            #expect(person["groups"] as? [String] == ["Warehouse"])
            // Metadata comes back as sent: keys untouched by the snake_case wire convention.
            let metadata = person["metadata"] as? [String: Any]
            #expect(metadata?["badgeNumber"] as? Int == 42)
            #expect(metadata?["shift_start"] as? String == "06:00")
            #expect(((metadata?["nested"] as? [String: Any])?["a"] as? [Double]) == [1, 2.5])

            expectError(try await client.call(.post, "/persons", as: owner.caller, json: JSON([
                "external_id": "E-1001", "full_name": "Someone Else",
            ])), .conflict, "external_id_taken")
            expectError(try await client.call(.post, "/persons", as: owner.caller, json: JSON([
                "full_name": "Someone Else", "groups": ["Nope"],
            ])), .badRequest, "unknown_group")
            expectError(try await client.call(.post, "/persons", as: owner.caller, json: JSON(["full_name": "X", "metadata": [1, 2]])),
                        .badRequest, "invalid_field")
            expectError(try await client.call(.post, "/persons", as: owner.caller, json: JSON(["full_name": " "])),
                        .badRequest, "invalid_field")

            let patched = try await client.call(.patch, "/persons/\(id)", as: owner.caller, json: JSON([
                "groups": ["Night shift", "Warehouse"], "tags": [], "full_name": "Grace B. Hopper",
            ]))
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(patched.object("person")["groups"] as? [String] == ["Night shift", "Warehouse"])
            #expect(patched.object("person")["tags"] as? [String] == [])
            #expect(patched.object("person")["external_id"] as? String == "E-1001")
            let cleared = try await client.call(.patch, "/persons/\(id)", as: owner.caller, json: JSON(["external_id": ""]))
            #expect(cleared.object("person")["external_id"] == nil || cleared.object("person")["external_id"] is NSNull)

            let fetched = try await client.call(.get, "/persons/\(id)", as: owner.caller)
            #expect(fetched.object("person")["full_name"] as? String == "Grace B. Hopper")
            let groups = try await client.call(.get, "/groups", as: owner.caller)
            #expect((groups["groups"] as? [[String: Any]])?.map { $0["person_count"] as? Int } == [1, 1])

            #expect(try await client.call(.delete, "/persons/\(id)", as: owner.caller).status == .ok)
            expectError(try await client.call(.get, "/persons/\(id)", as: owner.caller), .notFound, "not_found")
            let audit = try await client.call(.get, "/audit?action=person.delete", as: owner.caller)
            #expect((audit["events"] as? [[String: Any]])?.first?["target"] as? String == "person:\(id)")
        }
    }

    @Test func listFiltersAndPages() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            _ = try await client.call(.post, "/groups", as: owner.caller, json: JSON(["name": "Kitchen"]))
            for index in 0..<7 {
                let reply = try await client.call(.post, "/persons", as: owner.caller, json: JSON([
                    "external_id": "P\(index)", "full_name": index % 2 == 0 ? "Ann \(index) Lee" : "Bob \(index)_Stone",
                    "tags": index < 3 ? ["cook"] : [], "groups": index % 3 == 0 ? ["Kitchen"] : [],
                ]))
                try #require(reply.status == .created, "\(reply.text)")
            }
            func names(_ query: String) async throws -> [String] {
                let reply = try await client.call(.get, "/persons\(query)", as: owner.caller)
                #expect(reply.status == .ok, "\(reply.text)")
                return (reply["persons"] as? [[String: Any]] ?? []).compactMap { $0["external_id"] as? String }
            }
            #expect(try await names("?group=Kitchen") == ["P0", "P3", "P6"])
            #expect(try await names("?tag=cook") == ["P0", "P1", "P2"])
            #expect(try await names("?external_id=P4") == ["P4"])
            #expect(try await names("?name=ann") == ["P0", "P2", "P4", "P6"])
            #expect(try await names("?name=_") == ["P1", "P3", "P5"])  // LIKE wildcards are literal
            #expect(try await names("?group=Kitchen&tag=cook") == ["P0"])
            let first = try await client.call(.get, "/persons?limit=4", as: owner.caller)
            let cursor = try #require(first["next_cursor"] as? String)
            #expect(try await names("?limit=4&cursor=\(cursor)") == ["P4", "P5", "P6"])
            expectError(try await client.call(.get, "/persons?limit=9999", as: owner.caller), .badRequest, "invalid_query")
        }
    }

    @Test func deletingAGroupKeepsItsMembers() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let group = try await client.call(.post, "/groups", as: owner.caller, json: JSON(["name": "Temps"]))
            let groupID = try #require((group.object("group")["id"] as? NSNumber)?.int64Value)
            let person = try await client.call(.post, "/persons", as: owner.caller, json: JSON(["full_name": "Tem Porary", "groups": ["Temps"]]))
            let personID = try #require((person.object("person")["id"] as? NSNumber)?.int64Value)
            #expect(try await client.call(.delete, "/groups/\(groupID)", as: owner.caller).status == .noContent)
            let after = try await client.call(.get, "/persons/\(personID)", as: owner.caller)
            #expect(after.object("person")["groups"] as? [String] == [])
            expectError(try await client.call(.delete, "/groups/\(groupID)", as: owner.caller), .notFound, "not_found")
        }
    }

    @Test func anotherCompanyNeverSeesOrTouchesThesePersons() async throws {
        try await TestServer().run { client in
            let a = try await client.register("Acme")
            let group = try await client.call(.post, "/groups", as: a.caller, json: JSON(["name": "Secret"]))
            let groupID = try #require((group.object("group")["id"] as? NSNumber)?.int64Value)
            let person = try await client.call(.post, "/persons", as: a.caller, json: JSON([
                "full_name": "Acme Person", "external_id": "A-1", "groups": ["Secret"],
            ]))
            let personID = try #require((person.object("person")["id"] as? NSNumber)?.int64Value)
            let b = try await client.register("Bravo")
            let bKey = try await client.apiKey([.admin], in: b)
            for caller in [b.caller, Caller.apiKey(bKey.key)] {
                expectError(try await client.call(.get, "/persons/\(personID)", as: caller), .notFound, "not_found")
                expectError(try await client.call(.patch, "/persons/\(personID)", as: caller, json: JSON(["full_name": "Mine"])),
                            .notFound, "not_found")
                expectError(try await client.call(.delete, "/persons/\(personID)", as: caller), .notFound, "not_found")
                expectError(try await client.call(.delete, "/groups/\(groupID)", as: caller), .notFound, "not_found")
                // Group names and external ids are per company.
                expectError(try await client.call(.post, "/persons", as: caller, json: JSON(["full_name": "B", "groups": ["Secret"]])),
                            .badRequest, "unknown_group")
                for list in ["/persons", "/persons?external_id=A-1", "/persons?group=Secret", "/groups"] {
                    let reply = try await client.call(.get, list, as: caller)
                    #expect(reply.status == .ok)
                    #expect(!reply.text.contains("Acme") && !reply.text.contains("Secret"), "\(list): \(reply.text)")
                }
            }
            #expect(try await client.call(.post, "/persons", as: b.caller, json: JSON(["full_name": "B", "external_id": "A-1"])).status
                    == .created)
            #expect(try await client.call(.get, "/persons/\(personID)", as: a.caller).object("person")["full_name"] as? String
                    == "Acme Person")
        }
    }
}
