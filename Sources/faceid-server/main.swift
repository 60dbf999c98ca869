import FaceIDServer
import Foundation

// faceid-server: configuration → buildApplication → run until SIGTERM/SIGINT (graceful shutdown).
// Keys come from `--http-port 8443`-style flags, FACEID_HTTP_PORT-style variables, then `--config-file <json>`.
// `faceid-server --check-index <dir>`: the child process the server runs to read its index before mapping it.
if CommandLine.arguments.count == 3, CommandLine.arguments[1] == IndexStructureCheck.flag {
    exit(IndexStructureCheck.run(CommandLine.arguments[2]))
}

do {
    let configuration = try await ServerConfiguration.load()
    let scheme = configuration.plaintext ? "http" : "https"
    // This executable, to re-run as `--check-index` (Linux: /proc/self/exe even when started through a relative path).
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? Bundle.main.executablePath
    let app = try await buildApplication(configuration: configuration, indexChecker: executable) { channel in
        let port = channel.localAddress?.port ?? configuration.port
        let host = ["0.0.0.0", "::"].contains(configuration.host) ? "localhost" : configuration.host
        // Unbuffered, so a supervisor or `make run` piping stdout sees it at once.
        FileHandle.standardOutput.write(Data("faceid-server listening on \(scheme)://\(host):\(port)\n".utf8))
    }
    try await app.runService()
} catch let error as ConfigurationError {
    FileHandle.standardError.write(Data("faceid-server: \(error)\n".utf8))
    exit(78)  // EX_CONFIG
} catch {
    // Anything else that stops the start (an unreadable store, a full disk): a message and a status, never a
    // trap with a backtrace (an error escaping top-level code is a fatal error).
    FileHandle.standardError.write(Data("faceid-server: cannot start: \(error)\n".utf8))
    exit(70)  // EX_SOFTWARE
}
