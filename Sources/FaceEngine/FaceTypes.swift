/// A rectangle in image pixels: `left`/`top` inclusive, `right`/`bottom` as face_recognition's
/// trimmed `(top, right, bottom, left)` box.
public struct FaceBox: Sendable, Equatable, Codable {
    public var left: Int
    public var top: Int
    public var right: Int
    public var bottom: Int

    public init(left: Int, top: Int, right: Int, bottom: Int) {
        self.left = left
        self.top = top
        self.right = right
        self.bottom = bottom
    }

    public var width: Int { right - left }
    public var height: Int { bottom - top }
    public var centerX: Double { Double(left + right) / 2 }
    public var centerY: Double { Double(top + bottom) / 2 }
}

/// Which detector found a face.
public enum FaceDetector: String, Sendable, Codable {
    case hog
    case cnn
}

/// Why a face is not good enough to enroll.
public enum QualityReason: String, Sendable, Codable, CaseIterable {
    case noFace = "no_face"
    case multipleFaces = "multiple_faces"
    case faceTooSmall = "face_too_small"
    case faceCutOff = "face_cut_off"
    case lowDetectorScore = "low_detector_score"
}

/// The quality report of one face.
public struct FaceQuality: Sendable, Equatable, Codable {
    /// Shorter side of the box, in pixels.
    public var size: Int
    public var detectorScore: Double
    /// Distance from the detector's (unclipped) box to the nearest image edge; negative when the
    /// box extends past the image.
    public var borderMargin: Int
    public var facesInImage: Int
    /// Empty when the face is fit for enrollment.
    public var reasons: [QualityReason]
    public var isAcceptable: Bool { reasons.isEmpty }

    public init(size: Int, detectorScore: Double, borderMargin: Int, facesInImage: Int, reasons: [QualityReason]) {
        self.size = size
        self.detectorScore = detectorScore
        self.borderMargin = borderMargin
        self.facesInImage = facesInImage
        self.reasons = reasons
    }
}

/// One face found in an image.
public struct DetectedFace: Sendable, Equatable {
    public var box: FaceBox
    public var detector: FaceDetector
    public var score: Double
    /// The 5 landmarks of `shape_predictor_5_face_landmarks` as (x, y).
    public var landmarks: [(x: Float, y: Float)]
    /// 128 floats (dlib ResNet v1), or empty when not computed.
    public var descriptor: [Float]
    public var quality: FaceQuality

    public static func == (a: DetectedFace, b: DetectedFace) -> Bool {
        a.box == b.box && a.detector == b.detector && a.score == b.score && a.descriptor == b.descriptor
            && a.quality == b.quality && a.landmarks.elementsEqual(b.landmarks) { $0.x == $1.x && $0.y == $1.y }
    }
}

/// The result of `FaceEngine.analyze`.
public struct FaceAnalysis: Sendable, Equatable {
    /// Size after EXIF orientation.
    public var width: Int
    public var height: Int
    /// The clockwise turn (0, 90, 180, 270) after which the faces were found; boxes refer to the
    /// turned image.
    public var rotation: Int
    public var faces: [DetectedFace]

    /// The face nearest the image centre (the subject of a portrait with bystanders), if any.
    public var centralFace: DetectedFace? {
        faces.min { a, b in
            let da = pow2(a.box.centerX - Double(width) / 2) + pow2(a.box.centerY - Double(height) / 2)
            let db = pow2(b.box.centerX - Double(width) / 2) + pow2(b.box.centerY - Double(height) / 2)
            return da < db
        }
    }

    /// The largest face, if any.
    public var largestFace: DetectedFace? { faces.max { $0.box.width * $0.box.height < $1.box.width * $1.box.height } }
}

@inline(__always) private func pow2(_ x: Double) -> Double { x * x }

/// How `FaceEngine.analyze` runs. The defaults reproduce `face_recognition.face_encodings(img,
/// face_locations(img))` exactly (HOG, upsample 1, no jitter).
public struct AnalyzeOptions: Sendable, Equatable {
    /// HOG pyramid-up steps before detection.
    public var upsample: Int = 1
    public var detector: FaceDetector = .hog
    /// When HOG finds nothing on an image of at most this many pixels, try the CNN detector
    /// (~1 s per 250×250 on one core); 0 turns the fallback off.
    public var cnnFallbackMaxPixels: Int = 0
    /// Detect on a copy scaled down to this longest side (boxes mapped back); 0 never scales.
    public var detectionMaxSide: Int = 2048
    /// Jittered copies of the face chip averaged into the descriptor (1 = none).
    public var jitters: Int = 1
    /// Also average the mirrored chip's descriptor.
    public var mirror: Bool = false
    /// Compute descriptors (false: detection, landmarks and quality only).
    public var describe: Bool = true
    /// Larger images are refused with `imageTooLarge`.
    public var maxPixels: Int = 40_000_000
    /// Faces whose shorter box side is below this are `face_too_small`.
    public var minimumFaceSize: Int = 40
    /// When no face is found upright, look for faces in the image turned 90°, 270° and 180°
    /// (photos taken sideways without an EXIF tag). Off reproduces face_recognition.
    public var tryRotations: Bool = true

    public init() {}
}
