import Foundation
import Hummingbird
import Testing
import Yams

@testable import FaceIDServer

@Suite("Health, metrics, OpenAPI, configuration")
struct SystemTests {
    @Test func healthAndReadiness() async throws {
        try await TestServer().run { client in
            let health = try await client.call(.get, "/healthz")
            #expect(health.status == .ok)
            #expect(health.headers[.xContentTypeOptions] == "nosniff")
            #expect(health.headers[.requestID]?.isEmpty == false)
            let ready = try await client.call(.get, "/readyz")
            #expect(ready.status == .ok)
            #expect(ready["store"] as? String == "ok")
        }
    }

    @Test func metricsCountRequestsByRouteTemplateAndStatus() async throws {
        try await TestServer().run { client in
            let tenant = try await client.register("Acme")
            _ = try await client.call(.delete, "/users/12345", as: tenant.caller)
            let metrics = try await client.call(.get, "/metrics")
            #expect(metrics.status == .ok)
            #expect(metrics.text.contains(#"faceid_http_requests_total{route="/register",method="POST",status="201"} 1"#), "\(metrics.text)")
            #expect(metrics.text.contains(#"route="/users/{id}",method="DELETE",status="404""#))
            #expect(metrics.text.contains("faceid_http_request_duration_seconds_bucket"))
            #expect(!metrics.text.contains("12345"))
        }
    }

    @Test func everyRouteIsInTheOpenAPIDocument() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let reply = try await client.call(.get, "/openapi.yaml")
            #expect(reply.status == .ok)
            let document = try #require(try Yams.load(yaml: reply.text) as? [String: Any])
            let version = try #require(document["openapi"] as? String)
            #expect(version.hasPrefix("3.1."))
            let paths = try #require(document["paths"] as? [String: Any])
            // The console's static files are not API; its mirror of every protected route is the documented route under
            // /console/api (the document says so once, in its description).
            let staticFiles: Set<String> = ["GET /console", "GET /console/assets/**"]
            let mirrored = server.servedRoutes.filter { $0.contains(" /console/api/") }
            let api = server.servedRoutes.filter { !$0.contains(" /console/api/") && !staticFiles.contains($0) }
            #expect(server.servedRoutes.count == api.count + mirrored.count + staticFiles.count)
            #expect(api.count == server.routes.count)
            #expect(api.count > 20)
            let protected = Set(server.routes.filter { $0.permission != nil }.map { "\($0.method) \($0.path)" })
            #expect(Set(mirrored.map { $0.replacingOccurrences(of: " /console/api/", with: " /") }) == protected)
            let documented = paths.flatMap { path, value in
                ((value as? [String: Any]) ?? [:]).keys.filter { $0 != "parameters" }.map { "\($0.uppercased()) \(path)" }
            }
            for route in api {
                #expect(documented.contains(route), "\(route) is not in openapi.yaml")
            }
            // And nothing documented that is not served.
            #expect(Set(documented) == Set(api))
        }
    }

    @Test func serverRefusesToStartWithoutAMasterKey() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-nokey-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = ServerConfiguration(dataDirectory: directory.path)
        configuration.plaintext = true
        do {
            _ = try await buildApplication(configuration: configuration)
            Issue.record("started without a master key")
        } catch let error as ConfigurationError {
            #expect(error.message.contains("head -c 32 /dev/urandom"))
        }
    }

    @Test(TestServer.sqliteOnly) func serverRefusesToStartWithTheWrongMasterKey() async throws {
        let server = try await TestServer()
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-wrongkey-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copy) }
        try await server.run { client in
            let owner = try await client.register("Acme")
            let face = "{\"external_id\": \"P1\", \"encoding\": [" + Array(repeating: "0.05", count: 128).joined(separator: ",") + "]}"
            #expect(try await client.call(.post, "/faces/import", as: owner.caller, json: face).status == .created)
            // A copy of the store without its index: the next start must open the company's key to rebuild it.
            _ = try await server.services.sqlite.pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
            try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: server.configuration.databasePath, toPath: copy.path + "/faceid.sqlite")
            try FileManager.default.copyItem(atPath: server.configuration.dataDirectory + "/" + SQLiteKeyVault.fileName,
                                             toPath: copy.path + "/" + SQLiteKeyVault.fileName)
        }
        var configuration = ServerConfiguration(dataDirectory: copy.path)
        configuration.plaintext = true
        configuration.masterKey = MasterKey.random()
        await expectWrongKeyRefusal(configuration)
    }
}

/// Issue 12, item 7: a wrong master key is the same configuration error (exit 78) whether or not `index/` exists, and
/// it never touches the index (its records would fail to open and look like damage).
@Suite("Wrong master key", TestServer.sqliteOnly)
struct WrongMasterKeyTests {
    @Test(TestServer.sqliteOnly) func aWrongMasterKeyWithAnIndexPresentIsAConfigurationErrorAndLeavesTheIndexAlone() async throws {
        let folder = try await IndexRecoveryTests.makeFolder(faces: 20)
        defer { folder.remove() }
        let before = try Data(contentsOf: URL(fileURLWithPath: folder.dataFile))
        var configuration = folder.configuration()
        configuration.masterKey = MasterKey.random()
        await expectWrongKeyRefusal(configuration)
        // Nothing moved aside or rewritten, and the right key still starts on it without a rebuild.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path).filter { $0.hasPrefix("index.") } == [])
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.dataFile)) == before)
        let services = try await folder.services()
        defer { try? services.sqlite.close() }
        try await services.index.start()
        #expect(!services.index.isRebuilding && services.index.movedAside.isEmpty)
        #expect(try services.index.collection(folder.companyID).count == 20)
    }

    /// The real binary: exit status 78 and the documented message, not a trap, with `index/` present and without.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: ServerProcess.binary), "needs the built faceid-server"),
          arguments: [true, false])
    func theServerExits78WithTheWrongKey(indexPresent: Bool) async throws {
        let folder = try await IndexRecoveryTests.makeFolder(faces: 20)
        defer { folder.remove() }
        if !indexPresent { try FileManager.default.removeItem(atPath: folder.index) }
        let run = try ServerProcess.start(folder: folder.url.path, masterKey: ServerProcess.randomKeyText())
        let status = try await run.waitForExit(timeout: .seconds(120))
        #expect(status == 78, "\(run.output())")
        #expect(run.output().contains("configuration crypto.masterKey") && run.output().contains("wrong master key"), "\(run.output())")
        #expect(!run.output().contains("Fatal error"))
    }
}

@Suite("Configuration", TestServer.sqliteOnly)
struct ConfigurationTests {
    @Test func flagsOverEnvironmentOverFileAndTheDefaults() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("faceid.json")
        try Data(#"{"http": {"port": 7000, "maxBodySize": 4096}, "log": {"level": "debug"}}"#.utf8).write(to: file)
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        let configuration = try await ServerConfiguration.load(
            arguments: ["faceid-server", "--data-directory", directory.path, "--http-port", "9443",
                        "--rate-limit-login-failures-per-email", "3", "--config-file", file.path],
            environment: ["FACEID_HTTP_PORT": "8000", "FACEID_HTTP_PLAINTEXT": "true", "FACEID_CRYPTO_MASTER_KEY": key,
                          "FACEID_AUTH_TOKEN_LIFETIME": "600", "PATH": "/usr/bin"])
        #expect(configuration.port == 9443)
        #expect(configuration.plaintext)
        #expect(configuration.maxBodySize == 4096)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.tokenLifetime == 600)
        #expect(configuration.rateLimits.loginFailuresPerEmail == 3)
        #expect(configuration.rateLimits.registerPerHour == 20)
        #expect(configuration.masterKey != nil)
        #expect(configuration.certificatePath == directory.path + "/tls/cert.pem")
        #expect(configuration.host == "127.0.0.1")
    }

    @Test func theMasterKeyFileAndBadValues() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = ["faceid-server", "--data-directory", directory.path]
        #expect(try await ServerConfiguration.load(arguments: arguments, environment: [:]).masterKey == nil)
        try Data((String(repeating: "ab", count: 32) + "\n").utf8).write(to: directory.appendingPathComponent("master.key"))
        #expect(try await ServerConfiguration.load(arguments: arguments, environment: [:]).masterKey != nil)
        await #expect(throws: ConfigurationError.self) {
            try await ServerConfiguration.load(arguments: arguments, environment: ["FACEID_CRYPTO_MASTER_KEY": "too short"])
        }
        await #expect(throws: ConfigurationError.self) {
            try await ServerConfiguration.load(arguments: arguments + ["--http-port", "70000"], environment: [:])
        }
        await #expect(throws: ConfigurationError.self) {
            try await ServerConfiguration.load(arguments: arguments + ["--log-level", "loud"], environment: [:])
        }
    }
}

/// `buildApplication` refuses `configuration` with the `crypto.masterKey` configuration error naming a wrong key.
func expectWrongKeyRefusal(_ configuration: ServerConfiguration, sourceLocation: SourceLocation = #_sourceLocation) async {
    do {
        _ = try await buildApplication(configuration: configuration)
        Issue.record("started with the wrong master key", sourceLocation: sourceLocation)
    } catch let error as ConfigurationError {
        #expect(error.key == "crypto.masterKey" && error.message.contains("wrong master key"), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("not a configuration error: \(error)", sourceLocation: sourceLocation)
    }
}
