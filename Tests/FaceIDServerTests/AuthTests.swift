import Foundation
import Testing

@testable import FaceIDServer

@Suite("Register, login, logout, me")
struct AuthTests {
    @Test func registerReturnsCompanyOwnerAndAWorkingToken() async throws {
        try await TestServer().run { client in
            let reply = try await client.call(.post, "/register", json: JSON([
                "company_name": "  Acme Payroll ", "email": "Boss@Acme.example", "password": Client.password,
                "full_name": "Ada Boss", "unknown_field": "is ignored",
            ]))
            #expect(reply.status == .created, "\(reply.text)")
            #expect(reply["success"] as? Bool == true)
            #expect(reply.object("company")["name"] as? String == "Acme Payroll")
            #expect(reply.object("user")["role"] as? String == "owner")
            #expect(reply.object("user")["email"] as? String == "boss@acme.example")
            #expect(reply.object("user")["password_hash"] == nil)
            let token = try #require(reply["token"] as? String)
            #expect(token.hasPrefix("fids_"))
            let me = try await client.call(.get, "/me", as: .token(token))
            #expect(me.status == .ok)
            #expect(me.object("user")["full_name"] as? String == "Ada Boss")
            #expect(me.object("company")["name"] as? String == "Acme Payroll")
            // Both spellings of the Authorization header work.
            let bearer = try await client.call(.get, "/me", headers: [.authorization: "Bearer \(token)"])
            #expect(bearer.status == .ok)
        }
    }

    @Test(TestServer.sqliteOnly) func registerRejectsTakenEmailShortPasswordAndBadFields() async throws {
        let server = try await TestServer()
        try await server.run { client in
            _ = try await client.register("Acme", email: "boss@acme.example")
            let again = try await client.call(.post, "/register", json: JSON([
                "company_name": "Other", "email": "BOSS@acme.example", "password": Client.password,
            ]))
            expectError(again, .conflict, "email_taken")
            let short = try await client.call(.post, "/register", json: JSON([
                "company_name": "Other", "email": "new@other.example", "password": "123456789",
            ]))
            expectError(short, .badRequest, "weak_password")
            let wrongType = try await client.call(.post, "/register", json: JSON([
                "company_name": 5, "email": "new@other.example", "password": Client.password,
            ]))
            expectError(wrongType, .badRequest, "invalid_field")
            #expect(wrongType.text.contains("company_name"))
            let missing = try await client.call(.post, "/register", json: JSON(["email": "new@other.example", "password": Client.password]))
            expectError(missing, .badRequest, "missing_field")
            #expect(missing.text.contains("company_name"))
            let badEmail = try await client.call(.post, "/register", json: JSON([
                "company_name": "Other", "email": "not-an-email", "password": Client.password,
            ]))
            expectError(badEmail, .badRequest, "invalid_field")
            let notJSON = try await client.call(.post, "/register", json: "{\"company_name\": ")
            expectError(notJSON, .badRequest, "invalid_json")
            let array = try await client.call(.post, "/register", json: "[1, 2]")
            expectError(array, .badRequest, "invalid_json")
            let form = try await client.call(.post, "/register", json: "a=b", headers: [.contentType: "application/x-www-form-urlencoded"])
            expectError(form, .unsupportedMediaType, "unsupported_media_type")
            // Nothing half-written: only the first company exists.
            let companies = try await server.services.sqlite.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM companies") }
            #expect(companies == 1)
        }
    }

    @Test func bodyLargerThanTheLimitIs413() async throws {
        try await TestServer { $0.maxBodySize = 1024 }.run { client in
            let reply = try await client.call(.post, "/register", json: JSON([
                "company_name": String(repeating: "x", count: 2000), "email": "a@b.example", "password": Client.password,
            ]))
            expectError(reply, .contentTooLarge, "payload_too_large")
        }
    }

    @Test func loginAnswersOneMessageForWrongEmailAndWrongPassword() async throws {
        try await TestServer().run { client in
            let tenant = try await client.register("Acme")
            let login = try await client.call(.post, "/login", json: JSON(["email": tenant.email.uppercased(), "password": Client.password]))
            #expect(login.status == .ok, "\(login.text)")
            #expect((login["token"] as? String)?.hasPrefix("fids_") == true)
            #expect(Timestamp.parse(login["expires_at"] as? String ?? "") != nil)
            #expect(login.object("user")["id"] as? NSNumber == NSNumber(value: tenant.ownerID))

            let wrongPassword = try await client.call(.post, "/login", json: JSON(["email": tenant.email, "password": "wrong password!"]))
            let unknownEmail = try await client.call(.post, "/login", json: JSON(["email": "nobody@acme.example", "password": Client.password]))
            expectError(wrongPassword, .unauthorized, "invalid_login")
            expectError(unknownEmail, .unauthorized, "invalid_login")
            #expect(wrongPassword["error"] as? String == unknownEmail["error"] as? String)
        }
    }

    @Test func disabledUserCannotLoginAndLosesSessions() async throws {
        try await TestServer().run { client in
            let tenant = try await client.register("Acme")
            let staff = try await client.user(.staff, in: tenant, email: "staff@acme.example")
            let patch = try await client.call(.patch, "/users/\(staff.id)", as: tenant.caller, json: JSON(["disabled": true]))
            #expect(patch.status == .ok, "\(patch.text)")
            #expect(patch.object("user")["disabled"] as? Bool == true)
            expectError(try await client.call(.get, "/me", as: .token(staff.token)), .unauthorized, "invalid_token")
            let login = try await client.call(.post, "/login", json: JSON(["email": "staff@acme.example", "password": Client.password]))
            expectError(login, .unauthorized, "invalid_login")
        }
    }

    @Test func logoutRevokesTheToken() async throws {
        try await TestServer().run { client in
            let tenant = try await client.register("Acme")
            let other = try await client.call(.post, "/login", json: JSON(["email": tenant.email, "password": Client.password]))
            let otherToken = try #require(other["token"] as? String)
            let logout = try await client.call(.post, "/logout", as: tenant.caller)
            #expect(logout.status == .noContent)
            expectError(try await client.call(.get, "/me", as: tenant.caller), .unauthorized, "invalid_token")
            expectError(try await client.call(.get, "/users", as: tenant.caller), .unauthorized, "invalid_token")
            expectError(try await client.call(.post, "/logout", as: tenant.caller), .unauthorized, "invalid_token")
            // Only that session: the other login still works.
            #expect(try await client.call(.get, "/me", as: .token(otherToken)).status == .ok)
        }
    }

    @Test func expiredTokenIs401() async throws {
        let clock = ServerClock.manual()
        try await TestServer(clock: clock).run { client in
            let tenant = try await client.register("Acme")
            let patch = try await client.call(.patch, "/settings", as: tenant.caller, json: JSON(["token_lifetime_minutes": 30]))
            #expect(patch.status == .ok, "\(patch.text)")
            let login = try await client.call(.post, "/login", json: JSON(["email": tenant.email, "password": Client.password]))
            let token = Caller.token(try #require(login["token"] as? String))
            // Valid to the last second of its 30 minutes, refused after them.
            clock.advance(by: .seconds(30 * 60 - 1))
            #expect(try await client.call(.get, "/me", as: token).status == .ok)
            clock.advance(by: .seconds(2))
            expectError(try await client.call(.get, "/me", as: token), .unauthorized, "invalid_token")
        }
    }

    @Test func tokenLifetimeComesFromTheCompanySettings() async throws {
        try await TestServer().run { client in
            let tenant = try await client.register("Acme")
            let patch = try await client.call(.patch, "/settings", as: tenant.caller, json: JSON(["token_lifetime_minutes": 30]))
            #expect(patch.status == .ok, "\(patch.text)")
            let login = try await client.call(.post, "/login", json: JSON(["email": tenant.email, "password": Client.password]))
            let expires = try #require(Timestamp.parse(login["expires_at"] as? String ?? ""))
            #expect(abs(expires.timeIntervalSinceNow - 1800) < 60)
        }
    }

    @Test func credentialsMissingMalformedOrUnknownAre401() async throws {
        try await TestServer().run { client in
            expectError(try await client.call(.get, "/me"), .unauthorized, "missing_credentials")
            expectError(try await client.call(.get, "/me", headers: [.authorization: "Basic abc"]), .unauthorized, "missing_credentials")
            expectError(try await client.call(.get, "/me", as: .token("fids_nope")), .unauthorized, "invalid_token")
            expectError(try await client.call(.get, "/me", as: .apiKey("fid_abcdefgh_nope")), .unauthorized, "invalid_token")
        }
    }

    @Test func unknownRouteAndMethodAreJSONErrors() async throws {
        try await TestServer().run { client in
            let missing = try await client.call(.get, "/no-such-thing")
            #expect(missing.status == .notFound)
            #expect(missing["success"] as? Bool == false)
        }
    }
}
