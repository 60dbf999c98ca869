import Foundation
import VectorIndex

/// Reading the whole index in a child process before the server maps it: a page damaged in a way that makes LMDB
/// itself fault (SIGSEGV, SIGBUS) then ends the child, and the server moves the index aside instead of crashing.
public enum IndexStructureCheck {
    /// Runs `executable --check-index directory` (`VectorDatabase.checkStructure`); a failure or a death by signal
    /// is damage.
    static func inChildProcess(_ directory: String, executable: String) throws(VectorIndexError) {
        guard FileManager.default.fileExists(atPath: directory + "/data.mdb") else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [flag, directory]
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        do { try process.run() } catch { return }  // cannot check: the in-process open still rejects what it can
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        switch (process.terminationReason, process.terminationStatus) {
        case (.exit, 0):
            return
        case (.exit, let status):
            let message = String(decoding: output.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .corrupt("the structure check failed (exit \(status)): \(message)")
        case (_, let signal):
            throw .corrupt("reading the index killed the structure check (signal \(signal))")
        }
    }

    /// The `faceid-server` flag that runs `checkStructure` and exits: 0 readable, 65 (EX_DATAERR) damaged.
    public static let flag = "--check-index"

    /// `faceid-server --check-index <directory>`: reads every page of the index; 0 when readable, 65 when not (a
    /// fault kills the process, which the parent reads as damage too).
    public static func run(_ directory: String) -> Int32 {
        do {
            _ = try VectorDatabase.checkStructure(path: directory)
            return 0
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            return 65
        }
    }
}
