import FaceIDServer
import Foundation

// faceid-server: configuration → buildApplication → run until SIGTERM/SIGINT (graceful shutdown).
// Keys come from `--http-port 8443`-style flags, FACEID_HTTP_PORT-style variables, then `--config-file <json>`.
do {
    let configuration = try await ServerConfiguration.load()
    let scheme = configuration.plaintext ? "http" : "https"
    let app = try await buildApplication(configuration: configuration) { channel in
        let port = channel.localAddress?.port ?? configuration.port
        let host = ["0.0.0.0", "::"].contains(configuration.host) ? "localhost" : configuration.host
        // Unbuffered, so a supervisor or `make run` piping stdout sees it at once.
        FileHandle.standardOutput.write(Data("faceid-server listening on \(scheme)://\(host):\(port)\n".utf8))
    }
    try await app.runService()
} catch let error as ConfigurationError {
    FileHandle.standardError.write(Data("faceid-server: \(error)\n".utf8))
    exit(78)  // EX_CONFIG
}
