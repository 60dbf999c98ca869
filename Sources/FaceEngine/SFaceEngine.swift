import CFaceEngine
import Foundation

/// The second recognition model: the YuNet detector (2023mar) and the SFace recognizer (2021dec) from the OpenCV Zoo,
/// run by Debian's OpenCV 4.6 — about 400 times fewer false accepts than dlib at the same true-accept rate on LFW.
///
/// Embeddings are 128 floats, L2-normalised, so Euclidean distance and cosine similarity are the same ranking
/// (d² = 2 − 2 cos). Images are decoded exactly as `FaceEngine` decodes them (JPEG/PNG, EXIF orientation, the same
/// errors), then detected on a copy whose longest side is at most `SFaceOptions.detectionMaxSide`, aligned on the
/// full image (`alignCrop`, 112×112) and embedded. A pool of native engines runs calls concurrently.
public final class SFaceEngine: Sendable {
    /// The model id stored with every embedding this engine computes.
    public static let modelID = "sface-2021dec"
    /// The detector file: YuNet 2023mar, converted to fp32 ONNX by `scripts/fetch-sface-models.sh`.
    public static let detectorFile = "face_detection_yunet_2023mar.onnx"
    /// The recognizer file: SFace 2021dec, converted likewise.
    public static let recognizerFile = "face_recognition_sface_2021dec.onnx"
    /// The converted files and their SHA-256 (what `scripts/fetch-sface-models.sh` produces and checks).
    public static let modelFiles: [(name: String, sha256: String)] = [
        (detectorFile, SFaceModelChecksums.detector),
        (recognizerFile, SFaceModelChecksums.recognizer),
    ]

    private let pool: EnginePool<NativeEngine>
    /// How many calls can run at once.
    public let poolSize: Int

    /// Loads the two converted models from `modelDirectory`, checking each file's SHA-256 first.
    /// - Throws: `modelUnavailable` naming the missing or damaged file and the command that restores it.
    public init(modelDirectory: String, poolSize: Int = ProcessInfo.processInfo.activeProcessorCount,
                verifyChecksums: Bool = true) throws(FaceEngineError) {
        try ModelFiles.verify(Self.modelFiles, in: modelDirectory, checksums: verifyChecksums)
        pool = try EnginePool.make(count: poolSize) { (i) throws(FaceEngineError) in
            try NativeEngine(detectorPath: modelDirectory + "/" + Self.detectorFile,
                             recognizerPath: modelDirectory + "/" + Self.recognizerFile, index: i)
        }
        self.poolSize = pool.size
    }

    /// Decodes the image (JPEG or PNG, EXIF orientation applied), finds every face, best score first, and computes
    /// its embedding.
    /// - Throws: `emptyImage`, `unsupportedFormat`, `corruptImage`, `imageTooLarge`.
    public func analyze(imageData: Data, options: SFaceOptions = SFaceOptions()) async throws(FaceEngineError) -> SFaceAnalysis {
        try await pool.run { (handle) throws(FaceEngineError) in try Self.analyze(handle, imageData, options) }
    }

    // MARK: - Native calls (run on an engine's queue)

    private static func analyze(_ handle: OpaquePointer, _ data: Data, _ options: SFaceOptions) throws(FaceEngineError) -> SFaceAnalysis {
        var message = [CChar](repeating: 0, count: 512)
        var rgb: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        let decoded = data.withUnsafeBytes { raw in
            fe_image_decode(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, Int64(options.maxPixels), &rgb, &width, &height,
                            &message, message.count)
        }
        guard decoded == FE_OK, let rgb else { throw NativeEngine.error(decoded, message) }
        defer { fe_image_free(rgb) }
        var native = fe_sface_options(detection_max_side: Int32(options.detectionMaxSide), score_threshold: options.scoreThreshold,
                                      nms_threshold: options.nmsThreshold, describe: options.describe ? 1 : 0)
        var faces = [fe_sface_face](repeating: fe_sface_face(), count: 64)
        var count = 0
        let status = fe_sface_analyze(handle, rgb, width, height, &native, &faces, faces.count, &count, &message, message.count)
        guard status == FE_OK else { throw NativeEngine.error(status, message) }
        let found = faces.prefix(min(count, faces.count)).map { face in
            var face = face
            let box = withUnsafeBytes(of: &face.box) { Array($0.bindMemory(to: Float.self)) }
            let points = withUnsafeBytes(of: &face.landmarks) { Array($0.bindMemory(to: Float.self)) }
            let embedding = options.describe ? withUnsafeBytes(of: &face.embedding) { Array($0.bindMemory(to: Float.self)) } : []
            return SFaceFace(x: box[0], y: box[1], width: box[2], height: box[3],
                             landmarks: (0..<5).map { (x: points[2 * $0], y: points[2 * $0 + 1]) }, score: face.score, embedding: embedding)
        }
        return SFaceAnalysis(width: Int(width), height: Int(height), faces: found)
    }
}

/// How `SFaceEngine.analyze` runs.
public struct SFaceOptions: Sendable, Equatable {
    /// Detect on a copy downscaled to this longest side (YuNet finds faces from ~10 px at this scale); 0: full size.
    public var detectionMaxSide: Int = 640
    /// YuNet's score below which a candidate is dropped (the OpenCV Zoo default).
    public var scoreThreshold: Float = 0.6
    /// Non-maximum suppression IoU (the OpenCV Zoo default).
    public var nmsThreshold: Float = 0.3
    /// False: detection and landmarks only.
    public var describe: Bool = true
    /// Refuse images with more pixels (as `AnalyzeOptions.maxPixels`).
    public var maxPixels: Int = 40_000_000

    public init() {}
}

/// One face YuNet found, with its SFace embedding.
public struct SFaceFace: Sendable {
    /// YuNet's box in image pixels (may extend past the image).
    public var x: Float
    public var y: Float
    public var width: Float
    public var height: Float
    /// Right eye, left eye, nose tip, right and left mouth corners.
    public var landmarks: [(x: Float, y: Float)]
    /// sqrt(class score × objectness), 0…1.
    public var score: Float
    /// 128 floats, L2-normalised; empty when not computed.
    public var embedding: [Float]
}

/// The result of `SFaceEngine.analyze`.
public struct SFaceAnalysis: Sendable {
    /// Size after EXIF orientation.
    public var width: Int
    public var height: Int
    /// Best score first.
    public var faces: [SFaceFace]

    /// The largest face, if any.
    public var largestFace: SFaceFace? { faces.max { $0.width * $0.height < $1.width * $1.height } }
}
