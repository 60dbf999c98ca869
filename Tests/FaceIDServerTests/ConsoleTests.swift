import Foundation
import HTTPTypes
import Testing

@testable import FaceIDServer

/// The console's server side: the cookie session, CSRF, the API mirror, security headers, static files, and the
/// endpoints added for its pages (overview, enrollment dry run, the search's threshold, kiosk lag, audit by target).
/// The pages themselves are driven in a real browser by `scripts/console-tests.sh`.
@Suite("Console: session cookie, CSRF, headers, assets, overview")
struct ConsoleTests {
    /// Signs in through the console: the cookie pair to send back and the CSRF token.
    static func signIn(_ client: Client, email: String, password: String = Client.password) async throws -> (cookie: String, csrf: String, reply: Reply) {
        let reply = try await client.call(.post, "/console/session", json: JSON(["email": email, "password": password]))
        try #require(reply.status == .ok, "sign in: \(reply.text)")
        let setCookie = try #require(reply.headers[.setCookie])
        let pair = try #require(setCookie.split(separator: ";").first.map(String.init))
        return (pair, try #require(reply["csrf_token"] as? String), reply)
    }

    static func cookie(_ pair: String, csrf: String? = nil) -> HTTPFields {
        var fields: HTTPFields = [.cookie: pair]
        if let csrf { fields[.csrfToken] = csrf }
        return fields
    }

    @Test func signInSetsAStrictHttpOnlyCookieForTheConsoleOnly() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Cookie Co")
            let (_, csrf, reply) = try await Self.signIn(client, email: tenant.email)
            let setCookie = try #require(reply.headers[.setCookie])
            for attribute in ["faceid_console=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
                #expect(setCookie.contains(attribute), "\(setCookie)")
            }
            // The token itself never reaches script: the body has the CSRF token, not the session token.
            #expect(reply["token"] == nil)
            #expect(!csrf.isEmpty)
            #expect((reply["permissions"] as? [String])?.contains("manage_persons") == true)
            #expect((reply["permissions"] as? [String])?.contains("manage_api_keys") == true)
            // The matrix the settings page prints is the one the server enforces.
            let roles = try #require(reply["roles"] as? [String: [String]])
            #expect(Set(roles.keys) == Set(Role.allCases.map(\.rawValue)))
            #expect(Set(roles["viewer"] ?? []) == Set(Permission.allCases.filter { $0.allowedRoles.contains(.viewer) }.map(\.wireName)))
            #expect(roles["owner"]?.count == Permission.allCases.count)
            #expect(Permission.readAccessLog.wireName == "read_access_log" && Permission.manageAPIKeys.wireName == "manage_api_keys")
            // A wrong password is the login's 401; a malformed body is a 400 with its code, and sets no cookie.
            expectError(try await client.call(.post, "/console/session", json: JSON(["email": tenant.email, "password": "wrong password!"])),
                        .unauthorized, "invalid_login")
            let malformed = try await client.call(.post, "/console/session", json: "{\"email\": ")
            expectError(malformed, .badRequest, "invalid_json")
            #expect(malformed.headers[.setCookie] == nil)
            expectError(try await client.call(.post, "/console/session", json: JSON(["email": tenant.email])), .badRequest, "missing_field")
        }
    }

    @Test func theMirrorServesTheAPIWithTheCookieAndRefusesWritesWithoutTheCSRFToken() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Mirror Co")
            let (pair, csrf, _) = try await Self.signIn(client, email: tenant.email)
            // Reads need only the cookie.
            let me = try await client.call(.get, "/console/api/me", headers: Self.cookie(pair))
            #expect(me.status == .ok, "\(me.text)")
            #expect((me.object("company")["id"] as? NSNumber)?.int64Value == tenant.companyID)
            // Writes need the CSRF token: none, a wrong one, another session's → 403 csrf_failed, nothing written.
            let body = JSON(["full_name": "Ana Reyes"])
            expectError(try await client.call(.post, "/console/api/persons", json: body, headers: Self.cookie(pair)), .forbidden, "csrf_failed")
            expectError(try await client.call(.post, "/console/api/persons", json: body, headers: Self.cookie(pair, csrf: csrf + "x")),
                        .forbidden, "csrf_failed")
            let other = try await Self.signIn(client, email: tenant.email)
            expectError(try await client.call(.post, "/console/api/persons", json: body, headers: Self.cookie(pair, csrf: other.csrf)),
                        .forbidden, "csrf_failed")
            let listed = try await client.call(.get, "/persons", as: tenant.caller)
            #expect((listed["persons"] as? [Any])?.isEmpty == true)
            // With it, the same handler as the API.
            let created = try await client.call(.post, "/console/api/persons", json: body, headers: Self.cookie(pair, csrf: csrf))
            #expect(created.status == .created, "\(created.text)")
            // No cookie → 401 (the console shows "session expired"); a bearer token does not open the mirror.
            expectError(try await client.call(.get, "/console/api/me"), .unauthorized, "missing_credentials")
            expectError(try await client.call(.get, "/console/api/me", as: tenant.caller), .unauthorized, "missing_credentials")
            // And the cookie does not open the API outside /console.
            expectError(try await client.call(.get, "/me", headers: Self.cookie(pair)), .unauthorized, "missing_credentials")
        }
    }

    /// "No web UI access to raw face encodings": through the console even the desktop app's secret opens nothing.
    @Test func theConsoleNeverReceivesAnEncoding() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Secret Co")
            let encoding = (0..<128).map { _ in Double.random(in: -0.2...0.2) }
            let item = JSON(["external_id": "E1", "full_name": "Ana", "encoding": encoding])
            let imported = try await client.call(.post, "/faces/import", as: tenant.caller, json: "[\(item)]")
            #expect(imported.status == .created, "\(imported.text)")
            let faceID = try #require(((imported["face_ids"] as? [NSNumber])?.first)?.int64Value)
            // The API with the app secret reads it; the console with the same secret does not.
            let direct = try await client.call(.get, "/faces/\(faceID)?include_encoding=true", as: tenant.caller,
                                               headers: TestServer.kioskHeaders())
            #expect((direct.object("face")["encoding"] as? [Any])?.count == 128, "\(direct.text)")
            let (pair, _, _) = try await Self.signIn(client, email: tenant.email)
            var headers = Self.cookie(pair)
            for field in TestServer.kioskHeaders() { headers[field.name] = field.value }
            expectError(try await client.call(.get, "/console/api/faces/\(faceID)?include_encoding=true", headers: headers),
                        .forbidden, "encodings_desktop_app_only")
            expectError(try await client.call(.get, "/console/api/api/employees/timekeeper", headers: headers), .unauthorized, "invalid_app_secret")
            let plain = try await client.call(.get, "/console/api/faces/\(faceID)", headers: Self.cookie(pair))
            #expect(plain.status == .ok && !plain.text.contains("encoding\""), "\(plain.text)")
        }
    }

    @Test func theMatrixHoldsInTheConsoleToo() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Viewer Co")
            let email = "viewer@viewerco.example"
            _ = try await client.user(.viewer, in: tenant, email: email)
            let (pair, csrf, reply) = try await Self.signIn(client, email: email)
            let permissions = Set(reply["permissions"] as? [String] ?? [])
            #expect(permissions.contains("read_persons"))
            #expect(!permissions.contains("manage_persons"))
            #expect(!permissions.contains("read_access_log"))
            expectError(try await client.call(.post, "/console/api/persons", json: JSON(["full_name": "X"]), headers: Self.cookie(pair, csrf: csrf)),
                        .forbidden, "forbidden")
            expectError(try await client.call(.get, "/console/api/stats/overview", headers: Self.cookie(pair)), .forbidden, "forbidden")
        }
    }

    @Test func currentSessionAndSignOut() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Session Co")
            let (pair, csrf, _) = try await Self.signIn(client, email: tenant.email)
            let current = try await client.call(.get, "/console/session", headers: Self.cookie(pair))
            #expect(current.status == .ok)
            #expect(current["csrf_token"] as? String == csrf)
            // Sign-out needs the CSRF token too (a forged link must not sign anyone out).
            expectError(try await client.call(.delete, "/console/session", headers: Self.cookie(pair)), .forbidden, "csrf_failed")
            let out = try await client.call(.delete, "/console/session", headers: Self.cookie(pair, csrf: csrf))
            #expect(out.status == .noContent)
            let cleared = try #require(out.headers[.setCookie])
            #expect(cleared.contains("faceid_console=;") && cleared.contains("Max-Age=0"), "\(cleared)")
            // The session is revoked, not just forgotten by the browser.
            expectError(try await client.call(.get, "/console/session", headers: Self.cookie(pair)), .unauthorized, "invalid_token")
            expectError(try await client.call(.get, "/console/api/me", headers: Self.cookie(pair)), .unauthorized, "invalid_token")
            expectError(try await client.call(.get, "/console/session"), .unauthorized, "missing_credentials")
        }
    }

    @Test func securityHeadersOnConsoleAndAPIResponses() async throws {
        let server = try await TestServer()
        try await server.run { client in
            for uri in ["/console/", "/console/assets/js/app.js", "/console/session", "/console/api/me", "/console/assets/missing.js"] {
                let reply = try await client.call(.get, uri)
                let policy = reply.headers[SecurityHeadersMiddleware.contentSecurityPolicy] ?? ""
                #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
                        "\(uri): \(policy)")
                #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "\(uri)")
                #expect(reply.headers[SecurityHeadersMiddleware.frameOptions] == "DENY", "\(uri)")
                #expect(reply.headers[.xContentTypeOptions] == "nosniff", "\(uri)")
            }
            let api = try await client.call(.get, "/healthz")
            #expect(api.headers[SecurityHeadersMiddleware.contentSecurityPolicy] == "default-src 'none'; frame-ancestors 'none'")
            #expect(api.headers[SecurityHeadersMiddleware.frameOptions] == "DENY")
        }
    }

    @Test func staticFilesWithETagsAndNothingOutsideTheFolder() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let page = try await client.call(.get, "/console/")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.text.contains("/console/assets/js/app.js"))
            // The page loads no script of its own: every <script> names a file.
            #expect(!page.text.contains("<script>"))
            let bare = try await client.call(.get, "/console")
            #expect(bare.status == .ok && bare.data == page.data)
            let module = try await client.call(.get, "/console/assets/js/app.js")
            #expect(module.status == .ok)
            #expect(module.headers[.contentType] == "text/javascript; charset=utf-8")
            let etag = try #require(module.headers[.eTag])
            #expect(module.headers[.cacheControl] == "no-cache")
            let again = try await client.call(.get, "/console/assets/js/app.js", headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified)
            #expect(again.data.isEmpty)
            for uri in ["/console/assets/nothing.js", "/console/assets/../openapi.yaml", "/console/assets/%2e%2e/openapi.yaml",
                        "/console/assets/.hidden", "/console/assets/index.html"] {
                let reply = try await client.call(.get, uri)
                #expect(reply.status == .notFound, "\(uri): \(reply.status)")
            }
        }
    }

    /// Every file of the console, read as text: no inline script or style, no other origin, nothing that asks for encodings.
    @Test func theConsoleFilesObeyTheirPolicy() throws {
        let assets = ConsoleAssets.bundled.assets
        #expect(assets["index.html"] != nil)
        #expect(assets["js/app.js"] != nil)
        for (path, asset) in assets where ["html", "js", "css"].contains(path.split(separator: ".").last.map(String.init) ?? "") {
            // The SVG namespace is a name, not a place anything is loaded from.
            let text = String(decoding: asset.bytes, as: UTF8.self).replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
            for forbidden in ["style=\"", "onclick=", "onload=", "javascript:", "http://", "https://", "include_encoding", "eval("] {
                #expect(!text.contains(forbidden), "\(path) contains \(forbidden)")
            }
            if path.hasSuffix(".html") {
                #expect(!text.contains("<script>") && !text.contains("<style"), "\(path) has inline script or style")
            }
        }
    }

    @Test func overviewCountsSearchesPerDayInTheCallersZone() async throws {
        let clock = ServerClock.manual(start: Date(timeIntervalSince1970: 1_764_979_200 + 23 * 3600))  // 2025-12-06 23:00 UTC
        let server = try await TestServer(clock: clock)
        try await server.run { client in
            let tenant = try await client.register("Stats Co")
            let hour: Int64 = 3_600_000_000
            let base: Int64 = 1_764_979_200 * 1_000_000  // 2025-12-06 00:00 UTC
            func entry(_ at: Int64, _ decision: String, _ location: String) -> AccessRecord {
                AccessRecord(id: nil, companyID: tenant.companyID, atMicros: at, actor: "user:1", deviceID: nil, location: location,
                             probeSHA256: "", decision: decision, personID: nil, distance: nil, faceCount: 1, latencyMs: 1)
            }
            for record in [
                entry(base + 22 * hour, "match", "Gate 1"),   // 12-06 22:00 UTC = 12-07 01:00 at UTC+3
                entry(base + 10 * hour, "match", "Gate 1"),   // 12-06
                entry(base + 11 * hour, "unknown", "Gate 2"), // 12-06
                entry(base - 2 * hour, "no_face", ""),        // 12-05 22:00 UTC
                entry(base - 40 * 24 * hour, "match", "Old"), // outside 30 days
            ] {
                try await server.services.store.appendAccess(record, retentionDays: 365)
            }
            let utc = try await client.call(.get, "/stats/overview?days=30", as: tenant.caller)
            #expect(utc.status == .ok, "\(utc.text)")
            let days = try #require(utc["days"] as? [[String: Any]])
            #expect(days.count == 30)
            #expect(days.last?["date"] as? String == "2025-12-06")
            #expect(days.last?["match"] as? Int == 2)
            #expect(days.last?["unknown"] as? Int == 1)
            #expect(days[28]["no_face"] as? Int == 1)
            #expect(utc["searches_today"] as? Int == 3)
            let locations = try #require(utc["locations"] as? [[String: Any]])
            #expect(locations.first?["location"] as? String == "Gate 1")
            #expect(locations.first?["count"] as? Int == 2)
            #expect(!locations.contains { $0["location"] as? String == "Old" })
            // At UTC+3 it is already 12-07 02:00: the 22:00 UTC search is today, the others yesterday.
            let east = try await client.call(.get, "/stats/overview?days=2&utc_offset=180", as: tenant.caller)
            let eastDays = try #require(east["days"] as? [[String: Any]])
            #expect(eastDays.map { $0["date"] as? String } == ["2025-12-06", "2025-12-07"])
            #expect(eastDays[1]["match"] as? Int == 1)
            #expect(eastDays[0]["match"] as? Int == 1 && eastDays[0]["unknown"] as? Int == 1 && eastDays[0]["no_face"] as? Int == 1)
            #expect(east["searches_today"] as? Int == 1)
            #expect(east["persons"] as? Int == 0)
            for bad in ["days=0", "days=91", "utc_offset=900", "days=x"] {
                expectError(try await client.call(.get, "/stats/overview?\(bad)", as: tenant.caller), .badRequest, "invalid_query")
            }
        }
    }

    @Test func devicesShowTheirAcknowledgementAndLag() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Lag Co")
            let device = try await client.device("Gate 3", in: tenant)
            let before = try await client.call(.get, "/devices", as: tenant.caller)
            let listed = try #require((before["devices"] as? [[String: Any]])?.first)
            #expect(listed["behind"] is NSNull || listed["behind"] == nil)
            #expect(before["feed_head"] is Int)
            _ = try await client.call(.post, "/api/employees", as: tenant.caller, json: JSON(["name": "Ana", "timekeeper_id": "E1"]))
            let head = try #require(try await client.call(.get, "/devices", as: tenant.caller)["feed_head"] as? Int)
            #expect(head > 0)
            let ack = try await client.call(.post, "/api/devices/\(device)/ack", as: tenant.caller,
                                            json: JSON(["cursor": SyncCursor.delta(companyID: tenant.companyID, seq: Int64(head)).text]),
                                            headers: TestServer.kioskHeaders(device: device))
            #expect(ack.status == .ok, "\(ack.text)")
            let after = try #require((try await client.call(.get, "/devices", as: tenant.caller)["devices"] as? [[String: Any]])?.first)
            #expect(after["behind"] as? Int == 0)
            #expect(after["acknowledged"] as? Int == head)
            #expect(after["last_ack_at"] is String)
        }
    }

    @Test func auditFiltersByTarget() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Target Co")
            let first = try await client.call(.post, "/persons", as: tenant.caller, json: JSON(["full_name": "One"]))
            let second = try await client.call(.post, "/persons", as: tenant.caller, json: JSON(["full_name": "Two"]))
            let id = try #require((first.object("person")["id"] as? NSNumber)?.int64Value)
            #expect(second.status == .created)
            let events = try #require(try await client.call(.get, "/audit?target=person:\(id)", as: tenant.caller)["events"] as? [[String: Any]])
            #expect(events.count == 1)
            #expect(events.first?["action"] as? String == "person.create")
            #expect(events.allSatisfy { $0["target"] as? String == "person:\(id)" })
        }
    }

    /// The console's preview: every check an enrollment makes, nothing stored, and the same refusals.
    @Test func anEnrollmentDryRunChecksEverythingAndStoresNothing() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let tenant = try await client.register("Dry Run Co")
            let photo = try #require(RecognitionTests.johns.first?.1.first, "libdlib19.1's johns photos are missing")
            let person = try #require((try await client.call(.post, "/persons", as: tenant.caller, json: JSON(["full_name": "John"]))
                .object("person")["id"] as? NSNumber)?.int64Value)
            let checked = try await RecognitionTests.enroll(client, tenant.caller, photo, ["person_id": person, "dry_run": true])
            #expect(checked.status == .ok, "\(checked.text)")
            #expect(checked["dry_run"] as? Bool == true && checked["face_id"] == nil)
            let box = checked.object("box")
            #expect((box["right"] as? Int ?? 0) > (box["left"] as? Int ?? 0), "\(checked.text)")
            #expect((checked["models"] as? [String])?.isEmpty == false)
            let faces = try #require(try await client.call(.get, "/persons/\(person)/faces", as: tenant.caller)["faces"] as? [Any])
            #expect(faces.isEmpty)
            // A new person is not created by a dry run either.
            #expect(try await RecognitionTests.enroll(client, tenant.caller, photo, ["full_name": "Nobody Yet", "dry_run": true]).status == .ok)
            #expect((try await client.call(.get, "/persons", as: tenant.caller)["persons"] as? [Any])?.count == 1)
            // The refusals are the enrollment's.
            expectError(try await RecognitionTests.enroll(client, tenant.caller, RecognitionTests.examples + "/mmod_cars_test_image.jpg",
                                                          ["person_id": person, "dry_run": true]), .unprocessableContent, "no_face")
            expectError(try await RecognitionTests.enroll(client, tenant.caller, photo, ["person_id": 999_999, "dry_run": true]),
                        .notFound, "not_found")
            expectError(try await RecognitionTests.enroll(client, tenant.caller, photo, ["person_id": person, "dry_run": "yes"]),
                        .badRequest, "invalid_field")
            #expect(try await RecognitionTests.enroll(client, tenant.caller, photo, ["person_id": person]).status == .created)
            expectError(try await RecognitionTests.enroll(client, tenant.caller, photo, ["full_name": "Twin", "dry_run": true]),
                        .conflict, "duplicate_face")
        }
    }
}
