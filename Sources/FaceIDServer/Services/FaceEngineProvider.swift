import FaceEngine
import Foundation
import Synchronization

/// The face engines — dlib and SFace — each loaded on first use (about a second), then shared; and the photo pipeline
/// that gives every face the embeddings of the models asked for.
///
/// Missing or damaged models are a 503 `models_unavailable` naming the file, and the next request tries again.
final class FaceEngineProvider: Sendable {
    let modelDirectory: String
    private let loaded = Mutex<FaceEngine?>(nil)
    private let loadedSFace = Mutex<SFaceEngine?>(nil)

    init(modelDirectory: String) {
        self.modelDirectory = modelDirectory
    }

    func engine() throws(ServiceError) -> FaceEngine {
        try Self.load(loaded) { [modelDirectory] in try FaceEngine(modelDirectory: modelDirectory, poolSize: Self.poolSize) }
    }

    func sface() throws(ServiceError) -> SFaceEngine {
        try Self.load(loadedSFace) { [modelDirectory] in try SFaceEngine(modelDirectory: modelDirectory, poolSize: Self.poolSize) }
    }

    private static var poolSize: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// The engine in `slot`, made on first use; a failure is 503 `models_unavailable`, and the next call tries again.
    private static func load<Engine: Sendable>(_ slot: borrowing Mutex<Engine?>, _ make: () throws -> Engine) throws(ServiceError) -> Engine {
        try slot.withLock { (engine: inout Engine?) throws(ServiceError) -> Engine in
            if let engine { return engine }
            do {
                let made = try make()
                engine = made
                return made
            } catch {
                throw unavailable(error)
            }
        }
    }

    private static func unavailable(_ error: any Error) -> ServiceError {
        .modelsUnavailable(String(describing: error))
    }

    /// Finds the faces with `model`'s detector (its boxes and quality decide) and gives each face the embedding of every
    /// model in `also` too: dlib's from the dlib face whose box overlaps most (IoU ≥ 0.3), else computed at SFace's box;
    /// SFace's from the overlapping YuNet face (none when YuNet did not find it).
    func analyze(_ image: Data, model: RecognitionModel, also: Set<RecognitionModel> = []) async throws(ServiceError) -> PhotoAnalysis {
        switch model {
        case .dlib:
            var analysis = PhotoAnalysis(try await analyze(image))
            if also.contains(.sface), !analysis.faces.isEmpty {
                try await Self.unlessUnavailable { () async throws(ServiceError) in try await addSFace(to: &analysis, image: image) }
            }
            return analysis
        case .sface:
            var analysis = try await analyzeSFace(image)
            if also.contains(.dlib), !analysis.faces.isEmpty {
                try await Self.unlessUnavailable { () async throws(ServiceError) in try await addDlib(to: &analysis, image: image) }
            }
            return analysis
        }
    }

    /// Runs `body`; the other model's files missing (`models_unavailable`) is not the photo's fault: the face is stored
    /// without that embedding (a later model switch re-embeds stored photos) instead of refusing the enrollment.
    private static func unlessUnavailable(_ body: () async throws(ServiceError) -> Void) async throws(ServiceError) {
        do {
            try await body()
        } catch {
            if error.code != .modelsUnavailable { throw error }
        }
    }

    /// Adds dlib embeddings to faces found by SFace (used again by a search's dlib fallback).
    func addDlib(to analysis: inout PhotoAnalysis, image: Data) async throws(ServiceError) {
        let dlib = try await analyze(image)
        var unpaired: [Int] = []
        for i in analysis.faces.indices where analysis.faces[i].embeddings[.dlib] == nil {
            if let match = Self.bestOverlap(analysis.faces[i].box, dlib.faces.map(\.box)), !dlib.faces[match].descriptor.isEmpty {
                analysis.faces[i].embeddings[.dlib] = dlib.faces[match].descriptor
            } else {
                unpaired.append(i)
            }
        }
        guard !unpaired.isEmpty else { return }
        let engine = try engine()
        let descriptors: [[Float]]
        do {
            descriptors = try await engine.describe(imageData: image, boxes: unpaired.map { analysis.faces[$0].box })
        } catch {
            throw Self.map(error)
        }
        for (i, descriptor) in zip(unpaired, descriptors) where descriptor.count == FaceEncoding.dimension {
            analysis.faces[i].embeddings[.dlib] = descriptor
        }
    }

    func addSFace(to analysis: inout PhotoAnalysis, image: Data) async throws(ServiceError) {
        let found = try await analyzeSFace(image)
        for i in analysis.faces.indices {
            if let match = Self.bestOverlap(analysis.faces[i].box, found.faces.map(\.box)) {
                analysis.faces[i].embeddings[.sface] = found.faces[match].embeddings[.sface]
            }
        }
    }

    /// YuNet + SFace, with the same quality rules as dlib's faces (size, cut off, several faces).
    private func analyzeSFace(_ image: Data) async throws(ServiceError) -> PhotoAnalysis {
        let engine = try sface()
        let analysis: SFaceAnalysis
        do {
            analysis = try await engine.analyze(imageData: image)
        } catch {
            throw Self.map(error)
        }
        let faces = analysis.faces.map { face in
            PhotoFace(sface: face, width: analysis.width, height: analysis.height, count: analysis.faces.count)
        }
        return PhotoAnalysis(width: analysis.width, height: analysis.height, faces: faces)
    }

    /// The index of the box overlapping `box` most, when their intersection over union is at least 0.3.
    static func bestOverlap(_ box: FaceBox, _ boxes: [FaceBox]) -> Int? {
        func area(_ b: FaceBox) -> Double { Double(max(0, b.width)) * Double(max(0, b.height)) }
        let scored = boxes.enumerated().map { i, other -> (Int, Double) in
            let w = max(0, min(box.right, other.right) - max(box.left, other.left))
            let h = max(0, min(box.bottom, other.bottom) - max(box.top, other.top))
            let inter = Double(w * h)
            let union = area(box) + area(other) - inter
            return (i, union > 0 ? inter / union : 0)
        }
        guard let best = scored.max(by: { $0.1 < $1.1 }), best.1 >= 0.3 else { return nil }
        return best.0
    }

    /// Photos at least this large on their shorter side are first searched without upsampling.
    static let quickDetectionMinSide = 400

    /// Decodes and analyzes a photo; image errors become the API's 4xx.
    ///
    /// face_recognition's detector upsamples every photo once, so faces from ~40 px are found — at four times the HOG
    /// work. A kiosk or webcam frame (≥ 400 px on its shorter side) is first searched as it is, which finds faces from
    /// ~80 px; only when that finds none is it searched upsampled. Smaller photos are always upsampled.
    func analyze(_ image: Data) async throws(ServiceError) -> FaceAnalysis {
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

    static func map(_ error: FaceEngineError) -> ServiceError {
        .image(error)
    }
}

/// Faces found in a photo, each with the embeddings of the models asked for.
struct PhotoAnalysis: Sendable {
    var width: Int
    var height: Int
    var faces: [PhotoFace]

    var largestFace: PhotoFace? { faces.max { $0.box.width * $0.box.height < $1.box.width * $1.box.height } }

    init(width: Int, height: Int, faces: [PhotoFace]) {
        self.width = width
        self.height = height
        self.faces = faces
    }

    init(_ dlib: FaceAnalysis) {
        self.init(width: dlib.width, height: dlib.height,
                  faces: dlib.faces.map { PhotoFace(box: $0.box, quality: $0.quality, embeddings: [.dlib: $0.descriptor]) })
    }
}

struct PhotoFace: Sendable {
    var box: FaceBox
    var quality: FaceQuality
    var embeddings: [RecognitionModel: [Float]]

    init(box: FaceBox, quality: FaceQuality, embeddings: [RecognitionModel: [Float]]) {
        self.box = box
        self.quality = quality
        self.embeddings = embeddings
    }

    /// A YuNet face: its box clipped to the image, and dlib's quality rules on it (shorter side at least 40 px, at most
    /// 10 % of the detector's box outside the image; YuNet's own score floor, 0.6, already dropped weaker candidates).
    init(sface face: SFaceFace, width: Int, height: Int, count: Int) {
        let left = Int(face.x.rounded()), top = Int(face.y.rounded())
        let right = Int((face.x + face.width).rounded()), bottom = Int((face.y + face.height).rounded())
        box = FaceBox(left: max(0, left), top: max(0, top), right: min(width, right), bottom: min(height, bottom))
        let size = min(box.width, box.height)
        var reasons: [QualityReason] = []
        if count > 1 { reasons.append(.multipleFaces) }
        if size < 40 { reasons.append(.faceTooSmall) }
        let raw = Double(max(1, right - left)) * Double(max(1, bottom - top))
        if Double(max(0, box.width) * max(0, box.height)) < 0.9 * raw { reasons.append(.faceCutOff) }
        // The margin from YuNet's unrounded box, rounded outwards: a box reaching into the edge pixel touches the edge.
        let margin = min(Int(face.x.rounded(.down)), Int(face.y.rounded(.down)), width - 1 - Int((face.x + face.width).rounded(.up)),
                         height - 1 - Int((face.y + face.height).rounded(.up)))
        quality = FaceQuality(size: size, detectorScore: Double(face.score), borderMargin: margin, facesInImage: count, reasons: reasons)
        embeddings = face.embedding.isEmpty ? [:] : [.sface: face.embedding]
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
