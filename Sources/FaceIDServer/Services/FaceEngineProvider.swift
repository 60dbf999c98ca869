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

    /// Photos at least this large on their shorter side are first searched without upsampling.
    static let quickDetectionMinSide = 400

    /// Decodes and analyzes a photo; image errors become the API's 4xx.
    ///
    /// face_recognition's detector upsamples every photo once, so faces from ~40 px are found — at four times the HOG
    /// work. A kiosk or webcam frame (≥ 400 px on its shorter side) is first searched as it is, which finds faces from
    /// ~80 px; only when that finds none is it searched upsampled. Smaller photos are always upsampled.
    func analyze(_ image: Data) async throws(APIError) -> FaceAnalysis {
        let engine = try engine()
        do {
            if let size = ImageHeader.size(of: image), min(size.width, size.height) >= Self.quickDetectionMinSide {
                var quick = AnalyzeOptions()
                quick.upsample = 0
                let analysis = try await engine.analyze(imageData: image, options: quick)
                if !analysis.faces.isEmpty { return analysis }
            }
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

/// Pixel size from a JPEG's or PNG's header, without decoding; nil for anything else (the engine then decides).
enum ImageHeader {
    static func size(of data: Data) -> (width: Int, height: Int)? {
        let bytes = [UInt8](data.prefix(64 << 10))
        func u16(_ i: Int) -> Int { Int(bytes[i]) << 8 | Int(bytes[i + 1]) }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), bytes.count >= 24 {
            return (u16(18) | u16(16) << 16, u16(22) | u16(20) << 16)  // IHDR: big-endian 32-bit width, height
        }
        guard bytes.starts(with: [0xFF, 0xD8]) else { return nil }
        var i = 2
        while i + 9 < bytes.count, bytes[i] == 0xFF {
            let marker = bytes[i + 1]
            if marker == 0xFF { i += 1; continue }  // fill byte
            // SOF0…SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
            if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) {
                return (u16(i + 7), u16(i + 5))
            }
            i += 2 + u16(i + 2)
        }
        return nil
    }
}
