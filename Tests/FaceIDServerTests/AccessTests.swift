import Foundation
import HTTPTypes
import Testing

@testable import FaceIDServer

@Suite("Users, API keys, devices, settings, permissions, tenancy")
struct AccessTests {
    /// The permission matrix as the README states it, written out independently of `Permission`
    /// so a change to the code that is not a change to the documented matrix fails here.
    static let matrix: [String: (roles: Set<Role>, scopes: Set<Scope>)] = {
        let everyone = Set(Role.allCases), anyScope = Set(Scope.allCases)
        let managers: Set<Role> = [.owner, .admin]
        return [
            "GET /me": (everyone, anyScope),
            "POST /logout": (everyone, anyScope),
            "GET /users": (managers, [.admin]),
            "POST /users": (managers, [.admin]),
            "PATCH /users/{id}": (managers, [.admin]),
            "DELETE /users/{id}": (managers, [.admin]),
            "GET /api-keys": (managers, [.admin]),
            "POST /api-keys": (managers, [.admin]),
            "DELETE /api-keys/{id}": (managers, [.admin]),
            "GET /devices": (everyone, [.admin, .kiosk]),
            "POST /devices": (managers, [.admin]),
            "DELETE /devices/{id}": (managers, [.admin]),
            "GET /settings": (everyone, [.admin]),
            "GET /models/status": (everyone, [.admin]),
            "PATCH /settings": (managers, [.admin]),
            "GET /audit": (managers, [.admin]),
            "GET /audit/verify": (managers, [.admin]),
            "GET /persons": (everyone, anyScope),
            "GET /persons/{id}": (everyone, anyScope),
            "POST /persons": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "PATCH /persons/{id}": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "DELETE /persons/{id}": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "GET /groups": (everyone, anyScope),
            "POST /groups": (managers, [.admin, .enroll]),
            "DELETE /groups/{id}": (managers, [.admin, .enroll]),
            "POST /faces/import": (managers, [.admin]),
            "GET /faces/{id}": (everyone, anyScope),
            "GET /faces/{id}/image": (managers, [.admin]),
            "DELETE /faces/{id}": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "GET /persons/{id}/faces": (everyone, anyScope),
            "POST /face/enroll": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "POST /face/search": (everyone, [.admin, .recognize, .kiosk]),
            "POST /face/search/encoding": (everyone, [.admin, .recognize, .kiosk]),
            "GET /index/status": (managers, [.admin]),
            "GET /logs": (managers, [.admin]),
            "GET /stats/overview": (managers, [.admin]),
            "GET /persons/{id}/consent": (everyone, anyScope),
            "PUT /persons/{id}/consent": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "DELETE /persons/{id}/consent": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "GET /persons/{id}/export": (managers, [.admin]),
            "GET /privacy/retention": (managers, [.admin]),
            "DELETE /company": ([.owner], []),
            "POST /face/verify": (everyone, [.admin, .recognize, .kiosk]),
            "POST /api/employees": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "GET /api/employees": (everyone, anyScope),
            "POST /api/employees/import": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "GET /api/employees/{id}": (everyone, anyScope),
            "PATCH /api/employees/{id}": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "DELETE /api/employees/{id}": ([.owner, .admin, .staff], [.admin, .enroll, .kiosk]),
            "POST /api/employees/{id}/face": ([.owner, .admin, .staff], [.admin, .kiosk]),
            "DELETE /api/employees/{id}/face": ([.owner, .admin, .staff], [.admin, .kiosk]),
            "GET /api/employees/timekeeper": ([.owner, .admin, .staff], [.admin, .kiosk]),
            "GET /api/employees/timekeeper/changes": ([.owner, .admin, .staff], [.admin, .kiosk]),
            "POST /api/devices/{id}/ack": ([.owner, .admin, .staff], [.admin, .kiosk]),
            "GET /api/employees/{id}/face/propagation": (everyone, [.admin, .kiosk]),
        ]
    }()

    @Test func permissionMatrixForEveryRoleScopeAndProtectedRoute() async throws {
        let server = try await TestServer()
        let protected = server.routes.filter { $0.permission != nil }
        #expect(Set(protected.map { "\($0.method) \($0.path)" }) == Set(Self.matrix.keys))
        // Logout last: it ends the session it is called with.
        let ordered = protected.sorted { a, b in (a.path == "/logout" ? 1 : 0) < (b.path == "/logout" ? 1 : 0) }
        try await server.run { client in
            let owner = try await client.register("Acme")
            var callers: [(String, Caller, (Set<Role>, Set<Scope>) -> Bool)] = [("owner", owner.caller, { r, _ in r.contains(.owner) })]
            for role in [Role.admin, .staff, .viewer] {
                let user = try await client.user(role, in: owner)
                callers.append((role.rawValue, .token(user.token), { r, _ in r.contains(role) }))
            }
            for scope in Scope.allCases {
                let key = try await client.apiKey([scope], in: owner, name: "key \(scope)")
                callers.append(("key:\(scope)", .apiKey(key.key), { _, s in s.contains(scope) }))
            }
            for route in ordered {
                let name = "\(route.method) \(route.path)"
                let (roles, scopes) = try #require(Self.matrix[name])
                let uri = route.path.replacingOccurrences(of: "{id}", with: "999999")
                let body = [.post, .patch].contains(route.method) ? "{}" : nil
                for (callerName, caller, allowed) in callers {
                    // With the desktop app secret, so a kiosk route answers on permission alone.
                    let reply = try await client.call(route.method, uri, as: caller, json: body, headers: TestServer.kioskHeaders())
                    if allowed(roles, scopes) {
                        #expect(![401, 403].contains(reply.status.code), "\(callerName) on \(name): \(reply.text)")
                    } else {
                        expectError(reply, .forbidden, "forbidden")
                    }
                }
            }
        }
    }

    @Test func usersLifecycleAndTheLastOwnerRule() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let admin = try await client.user(.admin, in: owner, email: "admin@acme.example")
            let created = try await client.call(.post, "/users", as: .token(admin.token), json: JSON([
                "email": "clerk@acme.example", "password": Client.password, "role": "staff", "full_name": "Clerk",
            ]))
            #expect(created.status == .created, "\(created.text)")
            let clerkID = try #require((created.object("user")["id"] as? NSNumber)?.int64Value)
            expectError(try await client.call(.post, "/users", as: .token(admin.token), json: JSON([
                "email": "clerk@acme.example", "password": Client.password, "role": "staff",
            ])), .conflict, "email_taken")
            expectError(try await client.call(.post, "/users", as: .token(admin.token), json: JSON([
                "email": "x@acme.example", "password": Client.password, "role": "emperor",
            ])), .badRequest, "invalid_field")
            expectError(try await client.call(.post, "/users", as: .token(admin.token), json: JSON([
                "email": "x@acme.example", "password": "short", "role": "staff",
            ])), .badRequest, "weak_password")

            let list = try await client.call(.get, "/users", as: owner.caller)
            #expect((list["users"] as? [[String: Any]])?.count == 3)
            #expect(!list.text.contains("password"))

            let promoted = try await client.call(.patch, "/users/\(clerkID)", as: .token(admin.token), json: JSON(["role": "viewer"]))
            #expect(promoted.object("user")["role"] as? String == "viewer")
            // Only an owner makes, changes or removes an owner.
            expectError(try await client.call(.patch, "/users/\(clerkID)", as: .token(admin.token), json: JSON(["role": "owner"])),
                        .forbidden, "forbidden")
            expectError(try await client.call(.delete, "/users/\(owner.ownerID)", as: .token(admin.token)), .forbidden, "forbidden")
            // The last owner stays.
            expectError(try await client.call(.patch, "/users/\(owner.ownerID)", as: owner.caller, json: JSON(["role": "admin"])),
                        .conflict, "last_owner")
            expectError(try await client.call(.patch, "/users/\(owner.ownerID)", as: owner.caller, json: JSON(["disabled": true])),
                        .conflict, "last_owner")
            expectError(try await client.call(.delete, "/users/\(owner.ownerID)", as: owner.caller), .conflict, "last_owner")
            // With a second owner, the first may step down.
            #expect(try await client.call(.patch, "/users/\(admin.id)", as: owner.caller, json: JSON(["role": "owner"])).status == .ok)
            #expect(try await client.call(.patch, "/users/\(owner.ownerID)", as: owner.caller, json: JSON(["role": "admin"])).status == .ok)

            #expect(try await client.call(.delete, "/users/\(clerkID)", as: .token(admin.token)).status == .noContent)
            expectError(try await client.call(.delete, "/users/\(clerkID)", as: .token(admin.token)), .notFound, "not_found")
            expectError(try await client.call(.patch, "/users/abc", as: .token(admin.token), json: "{}"), .notFound, "not_found")
            let after = try await client.call(.get, "/users", as: .token(admin.token))
            #expect((after["users"] as? [[String: Any]])?.count == 2)
        }
    }

    @Test(TestServer.sqliteOnly) func apiKeysAreShownOnceStoredHashedAndRevocable() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let created = try await client.call(.post, "/api-keys", as: owner.caller, json: JSON([
                "name": "Front desk", "scopes": ["recognize", "enroll", "recognize"],
            ]))
            #expect(created.status == .created, "\(created.text)")
            let key = try #require(created["key"] as? String)
            let view = created.object("api_key")
            let prefix = try #require(view["prefix"] as? String)
            #expect(key.hasPrefix("fid_") && key.hasPrefix(prefix) && key.count > prefix.count + 30)
            #expect(view["scopes"] as? [String] == ["recognize", "enroll"])
            #expect(view["last_used_at"] is NSNull || view["last_used_at"] == nil)
            let id = try #require((view["id"] as? NSNumber)?.int64Value)

            let me = try await client.call(.get, "/me", as: .apiKey(key))
            #expect(me.status == .ok)
            #expect((me.object("api_key")["id"] as? NSNumber)?.int64Value == id)

            let list = try await client.call(.get, "/api-keys", as: owner.caller)
            #expect(!list.text.contains(key))
            #expect((list["api_keys"] as? [[String: Any]])?.first?["last_used_at"] as? String != nil)
            // Stored as a hash: the secret appears nowhere in the database.
            let stored = try await server.services.sqlite.pool.read { db in
                try String.fetchAll(db, sql: "SELECT name || prefix || scopes || hex(secretHash) FROM apiKeys").joined()
            }
            #expect(!stored.contains(String(key.dropFirst(prefix.count))))

            expectError(try await client.call(.post, "/api-keys", as: owner.caller, json: JSON(["name": "x", "scopes": ["root"]])),
                        .badRequest, "invalid_scope")
            expectError(try await client.call(.post, "/api-keys", as: owner.caller, json: JSON(["name": "x", "scopes": []])),
                        .badRequest, "invalid_field")
            expectError(try await client.call(.post, "/api-keys", as: owner.caller, json: JSON(["name": "x", "scopes": "admin"])),
                        .badRequest, "invalid_field")

            #expect(try await client.call(.delete, "/api-keys/\(id)", as: owner.caller).status == .noContent)
            expectError(try await client.call(.get, "/me", as: .apiKey(key)), .unauthorized, "invalid_token")
            let revoked = try await client.call(.get, "/api-keys", as: owner.caller)
            #expect((revoked["api_keys"] as? [[String: Any]])?.first?["revoked_at"] as? String != nil)
        }
    }

    @Test func devicesAndTheDeviceHeader() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let deviceID = try await client.device("Kiosk 1", in: owner)
            let list = try await client.call(.get, "/devices", as: owner.caller)
            #expect((list["devices"] as? [[String: Any]])?.first?["location"] as? String == "Front desk")
            let kiosk = try await client.apiKey([.kiosk], in: owner)
            let me = try await client.call(.get, "/me", as: .apiKey(kiosk.key), headers: [HTTPField.Name("X-Device-Id")!: "\(deviceID)"])
            #expect((me["device_id"] as? NSNumber)?.int64Value == deviceID)
            expectError(try await client.call(.get, "/me", as: .apiKey(kiosk.key), headers: [HTTPField.Name("X-Device-Id")!: "424242"]),
                        .unauthorized, "unknown_device")
            expectError(try await client.call(.post, "/devices", as: owner.caller, json: JSON(["name": " "])), .badRequest, "invalid_field")
            #expect(try await client.call(.delete, "/devices/\(deviceID)", as: owner.caller).status == .noContent)
            expectError(try await client.call(.delete, "/devices/\(deviceID)", as: owner.caller), .notFound, "not_found")
        }
    }

    @Test func settingsReadAndPatchWithRanges() async throws {
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            let read = try await client.call(.get, "/settings", as: owner.caller)
            #expect(read.object("settings")["token_lifetime_minutes"] as? Int == 720)
            let patch = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["requests_per_minute": 600]))
            #expect(patch.object("settings")["requests_per_minute"] as? Int == 600)
            #expect(patch.object("settings")["token_lifetime_minutes"] as? Int == 720)
            let bad = try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["token_lifetime_minutes": 1]))
            expectError(bad, .badRequest, "invalid_field")
            #expect(bad.text.contains("token_lifetime_minutes"))
            expectError(try await client.call(.patch, "/settings", as: owner.caller, json: JSON(["requests_per_minute": "many"])),
                        .badRequest, "invalid_field")
            #expect(try await client.call(.get, "/settings", as: owner.caller).object("settings")["requests_per_minute"] as? Int == 600)
        }
    }

    @Test func anotherCompanysIDsAre404AndLeaveTheResourceAlone() async throws {
        try await TestServer().run { client in
            let a = try await client.register("Acme")
            let aUser = try await client.user(.staff, in: a)
            let aKey = try await client.apiKey([.recognize], in: a)
            let aDevice = try await client.device("Kiosk A", in: a)
            let b = try await client.register("Bravo")
            let bKey = try await client.apiKey([.admin], in: b)
            for caller in [b.caller, Caller.apiKey(bKey.key)] {
                let attempts: [(HTTPRequest.Method, String, String?)] = [
                    (.patch, "/users/\(aUser.id)", JSON(["role": "admin"])),
                    (.patch, "/users/\(a.ownerID)", JSON(["disabled": true])),
                    (.delete, "/users/\(aUser.id)", nil),
                    (.delete, "/users/\(a.ownerID)", nil),
                    (.delete, "/api-keys/\(aKey.id)", nil),
                    (.delete, "/devices/\(aDevice)", nil),
                ]
                for (method, uri, body) in attempts {
                    let reply = try await client.call(method, uri, as: caller, json: body)
                    expectError(reply, .notFound, "not_found")
                    #expect(!reply.text.contains("acme"))
                }
                expectError(try await client.call(.get, "/me", as: caller, headers: [HTTPField.Name("X-Device-Id")!: "\(aDevice)"]),
                            .unauthorized, "unknown_device")
                for list in ["/users", "/api-keys", "/devices", "/audit"] {
                    let reply = try await client.call(.get, list, as: caller)
                    #expect(reply.status == .ok)
                    #expect(!reply.text.contains("acme"), "\(list) leaks: \(reply.text)")
                }
            }
            // Company A is untouched.
            #expect(try await client.call(.get, "/me", as: .token(aUser.token)).object("user")["role"] as? String == "staff")
            #expect(try await client.call(.get, "/me", as: .apiKey(aKey.key)).status == .ok)
            let devices = try await client.call(.get, "/devices", as: a.caller)
            #expect((devices["devices"] as? [[String: Any]])?.count == 1)
        }
    }
}
