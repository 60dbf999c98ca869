import FaceEngine
import Foundation

/// Where the test photos and models are.
enum Fixtures {
    /// The package root (three levels above this file).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// `models/` (installed by `make setup`) or `FACEID_MODELS_DIR`.
    static let modelDirectory = ProcessInfo.processInfo.environment["FACEID_MODELS_DIR"] ?? packageRoot + "/models"

    /// The photos Debian's libdlib19.1 package installs with its examples.
    static let dlibExamples = "/usr/share/doc/libdlib19.1/examples"

    /// `../shared/faces` beside the project, or `FACEID_FACES_DIR`; nil when absent.
    static let sharedFaces: String? = {
        let path = ProcessInfo.processInfo.environment["FACEID_FACES_DIR"] ?? packageRoot + "/../shared/faces"
        return FileManager.default.fileExists(atPath: path + "/README.md") ? path : nil
    }()

    /// One engine for the whole test run (loading the models takes about a second).
    static let engine: FaceEngine = {
        do {
            return try FaceEngine(modelDirectory: modelDirectory, poolSize: 2)
        } catch {
            fatalError("FaceEngine tests need the dlib models: \(error)")
        }
    }()

    /// One SFace engine for the whole test run.
    static let sface: SFaceEngine = {
        do {
            return try SFaceEngine(modelDirectory: modelDirectory, poolSize: 2)
        } catch {
            fatalError("SFace tests need the converted models (make setup): \(error)")
        }
    }()

    static func data(_ path: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: path))
    }

    static func distance(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    }
}
