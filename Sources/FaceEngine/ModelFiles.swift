import Crypto
import Foundation

/// The model files an engine loads, checked before any native code reads them.
enum ModelFiles {
    /// Throws `modelUnavailable` for the first file of `files` that is missing from `directory` or, with `checksums`,
    /// whose SHA-256 differs from the pinned one.
    static func verify(_ files: [(name: String, sha256: String)], in directory: String, checksums: Bool) throws(FaceEngineError) {
        for (name, expected) in files {
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .modelUnavailable(file: path, reason: "missing")
            }
            if checksums && SHA256.hash(data: data).map({ String(format: "%02x", $0) }).joined() != expected {
                throw .modelUnavailable(file: path, reason: "SHA-256 mismatch: damaged or wrong file")
            }
        }
    }
}
