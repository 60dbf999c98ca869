import FaceEngine
import Foundation
import Synchronization

/// The dlib engine, loaded on first use (about a second), then shared.
///
/// Missing or damaged models are a 503 `models_unavailable` naming the file, and the next request tries again.
final class FaceEngineProvider: Sendable {
    let modelDirectory: String
    private let loaded = Mutex<FaceEngine?>(nil)

    init(modelDirectory: String) {
        self.modelDirectory = modelDirectory
    }

    func engine() throws(APIError) -> FaceEngine {
        try loaded.withLock { (engine: inout FaceEngine?) throws(APIError) -> FaceEngine in
            if let engine { return engine }
            do {
                let made = try FaceEngine(modelDirectory: modelDirectory, poolSize: max(1, ProcessInfo.processInfo.activeProcessorCount))
                engine = made
                return made
            } catch {
                var failure = APIError(.serviceUnavailable, code: "models_unavailable", "The face models are not available",
                                       detail: "make setup installs them")
                failure.logMessage = String(describing: error)
                throw failure
            }
        }
    }

    /// Decodes and analyzes a photo; image errors become the API's 4xx.
    func analyze(_ image: Data) async throws(APIError) -> FaceAnalysis {
        let engine = try engine()
        do {
            return try await engine.analyze(imageData: image)
        } catch {
            throw Self.map(error)
        }
    }

    static func map(_ error: FaceEngineError) -> APIError {
        switch error {
        case .emptyImage: APIError(.badRequest, code: error.code, "The image is empty")
        case .unsupportedFormat: APIError(.unsupportedMediaType, code: error.code, "The image is not a JPEG or PNG")
        case .corruptImage(let why): APIError(.badRequest, code: error.code, "The image cannot be decoded", detail: why)
        case .imageTooLarge(let why): APIError(.contentTooLarge, code: error.code, "The image is too large", detail: why)
        case .invalidArgument(let why): APIError(.badRequest, code: error.code, "Invalid image request", detail: why)
        case .modelUnavailable, .internalFailure: APIError.serverFault(error.description)
        }
    }
}
