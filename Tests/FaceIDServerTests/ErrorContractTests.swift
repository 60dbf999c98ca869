import Foundation
import Testing

@testable import FaceIDServer

/// Answers outside any one controller: unknown methods, query ranges, the audit detail of a settings change.
@Suite("Error contract")
struct ErrorContractTests {
    @Test func aKnownPathWithAnotherMethodIs405WithAllow() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let put = try await client.call(.put, "/persons", as: owner.caller, json: "{}")
            expectError(put, .methodNotAllowed, "method_not_allowed")
            #expect(put.headers[.allow] == "GET, POST")
            // A templated path, unauthenticated: the method is wrong whoever asks.
            let post = try await client.call(.post, "/persons/12")
            expectError(post, .methodNotAllowed, "method_not_allowed")
            #expect(post.headers[.allow] == "DELETE, GET, PATCH")
            // The console's mirror too (the method is checked before the cookie); a public route is not mirrored.
            let mirrored = try await client.call(.put, "/console/api/persons")
            expectError(mirrored, .methodNotAllowed, "method_not_allowed")
            #expect(mirrored.headers[.allow] == "GET, POST")
            expectError(try await client.call(.get, "/console/api/login"), .notFound, "route_not_found")
            let health = try await client.call(.post, "/healthz")
            expectError(health, .methodNotAllowed, "method_not_allowed")
            #expect(health.headers[.allow] == "GET")
            // An unknown path stays a 404, with no Allow.
            let unknown = try await client.call(.get, "/nosuch")
            expectError(unknown, .notFound, "route_not_found")
            #expect(unknown.headers[.allow] == nil)
            expectError(try await client.call(.get, "/persons/12/nosuch", as: owner.caller), .notFound, "route_not_found")
        }
    }

    @Test func anOutOfRangeQueryNamesTheRange() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            for (uri, detail) in [
                ("/persons?limit=1000", "expected an integer in 1…500, got '1000'"),
                ("/audit?limit=0", "expected an integer in 1…500, got '0'"),
                ("/logs?decision=maybe", "expected one of match, ambiguous, unknown, no_face, got 'maybe'"),
                ("/logs?from=yesterday", "expected an RFC 3339 time or Unix seconds, got 'yesterday'"),
                ("/api/employees?include_deleted=yes", "expected true or false, got 'yes'"),
                ("/persons?cursor=abc", "expected an integer, got 'abc'"),
            ] {
                let reply = try await client.call(.get, uri, as: owner.caller)
                expectError(reply, .badRequest, "invalid_query")
                #expect(reply["detail"] as? String == detail, "\(uri): \(reply.text)")
            }
            let feed = try await client.call(.get, "/api/employees/timekeeper/changes?limit=5000", as: owner.caller,
                                             headers: TestServer.kioskHeaders())
            expectError(feed, .badRequest, "invalid_query")
            #expect(feed["detail"] as? String == "expected an integer in 1…1000, got '5000'")
        }
    }

    @Test func aSettingsChangeIsAuditedWithTheAPIsFieldNames() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            #expect(try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["match_preset": "strict"])).status == .ok)
            let page = try await client.call(.get, "/audit?action=settings.update", as: owner.caller)
            let event = try #require((page["events"] as? [[String: Any]])?.first)
            let detail = try #require(event["detail"] as? [String: Any])
            let settings = try #require(detail["settings"] as? String)
            let fields = try #require(try JSONSerialization.jsonObject(with: Data(settings.utf8)) as? [String: Any])
            #expect(fields["match_preset"] as? String == "strict")
            #expect(fields.keys.contains("token_lifetime_minutes"))
            #expect(!fields.keys.contains { $0.contains(where: \.isUppercase) }, "\(fields.keys.sorted())")
        }
    }

    /// A renamed user's name is stored as validated (trimmed), as it is when the user is created.
    @Test func aUserRenameIsStoredTrimmed() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let (id, _) = try await client.user(.staff, in: owner)
            let reply = try await client.call(.patch, "/users/\(id)", as: owner.caller, json: JSON(["full_name": "  Bob Staff  "]))
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.object("user")["full_name"] as? String == "Bob Staff")
            expectError(try await client.call(.patch, "/users/\(id)", as: owner.caller, json: JSON(["full_name": "   "])),
                        .badRequest, "invalid_field")
        }
    }
}
