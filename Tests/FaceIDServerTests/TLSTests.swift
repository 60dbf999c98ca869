import Foundation
import HummingbirdTesting
import Testing

@testable import FaceIDServer

/// The real server built by `buildApplication`, over HTTPS with a freshly generated certificate, checked with curl.
@Suite("Live HTTPS")
struct TLSTests {
    static func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    /// `run` off the cooperative pool: curl talks to the server in this process, whose handlers need that pool.
    static func runAsync(_ tool: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await offThePool { try run(tool, arguments) }
    }

    static var toolsPresent: Bool {
        ["openssl", "curl"].allSatisfy { (try? run("which", [$0]).status) == 0 }
    }

    @Test(.enabled(if: toolsPresent, "needs openssl and curl (make setup installs them)"))
    func servesHTTPSWithHSTSAndRefusesPlainHTTP() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-tls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = ServerConfiguration(dataDirectory: directory.path)
        try FileManager.default.createDirectory(atPath: directory.path + "/tls", withIntermediateDirectories: true)
        let generated = try await Self.runAsync("openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", configuration.privateKeyPath, "-out", configuration.certificatePath,
        ])
        try #require(generated.status == 0, "openssl: \(generated.output)")
        configuration.port = 0
        configuration.bcryptCost = 4
        configuration.masterKey = MasterKey.random()
        configuration.logLevel = .critical
        let app = try await buildApplication(configuration: configuration)
        let certificate = configuration.certificatePath
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let url = "https://localhost:\(port)"
            let health = try await Self.runAsync("curl", ["-sS", "-i", "--cacert", certificate, url + "/healthz"])
            #expect(health.status == 0, "\(health.output)")
            #expect(health.output.contains("HTTP/1.1 200"))
            #expect(health.output.lowercased().contains("strict-transport-security: max-age=31536000"))
            let register = try await Self.runAsync("curl", [
                "-sS", "--cacert", certificate, "-H", "Content-Type: application/json",
                "-d", JSON(["company_name": "Acme", "email": "tls@acme.example", "password": Client.password]), url + "/register",
            ])
            #expect(register.output.contains("\"token\":\"fids_"), "\(register.output)")
            // No silent downgrade: plain HTTP on the TLS port gets no HTTP answer.
            let plain = try await Self.runAsync("curl", ["-sS", "--max-time", "5", "http://localhost:\(port)/healthz"])
            #expect(plain.status != 0)
            // An unknown certificate is refused by a client that checks it.
            let unchecked = try await Self.runAsync("curl", ["-sS", "--max-time", "5", url + "/healthz"])
            #expect(unchecked.status != 0)
        }
    }
}
