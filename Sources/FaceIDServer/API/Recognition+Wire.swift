import FaceEngine
import Foundation
import Hummingbird

struct EnrollRequest: Decodable {
    var image: String
    var personId: Int64?
    var externalId: String?
    var fullName: String?
    var tags: [String]?
    var groups: [String]?
    var metadata: [String: JSONValue]?
    var reference: Bool?
    var select: String?
    var allowDuplicate: Bool?
    /// Check only: the face, its quality and the duplicate guard's answer, nothing stored (the console's preview).
    var dryRun: Bool?
}

struct QualityView: Encodable, Sendable {
    var size: Int
    var detectorScore: Double
    var borderMargin: Int
    var facesInImage: Int

    init(_ quality: FaceQuality) {
        size = quality.size
        detectorScore = quality.detectorScore
        borderMargin = quality.borderMargin
        facesInImage = quality.facesInImage
    }
}

struct EnrollResponse: ResponseEncodable, Sendable {
    var success = true
    var faceId: Int64
    var person: PersonView
    var box: FaceBox
    var quality: QualityView
    /// The models whose embeddings were stored for the face.
    var models: [String]
}

/// A dry run's answer: what enrolling the photo would store.
struct EnrollCheckResponse: ResponseEncodable, Sendable {
    var success = true
    var dryRun = true
    var box: FaceBox
    var quality: QualityView
    var models: [String]
}

struct SearchRequest: Decodable {
    var image: String
    var group: String?
    var topK: Int?
    var maxDistance: Double?
    var minSimilarity: Double?
    var faces: String?
    var location: String?
}

/// `POST /face/search/encoding`: a precomputed encoding instead of a photo.
struct EncodingSearchRequest: Decodable {
    var encoding: [Double]
    /// `dlib-resnet-v1` (the default: what kiosks and `face_recognition` compute) or `sface-2021dec`.
    var model: String?
    var group: String?
    var topK: Int?
    var maxDistance: Double?
    var minSimilarity: Double?
    var location: String?
}

struct EncodingSearchResponse: ResponseEncodable, Sendable {
    var success = true
    /// The encoding's model: the one searched, and the unit of every distance.
    var model: String
    var decision: String
    var candidates: [CandidateView]
}

struct CandidateView: Encodable, Sendable {
    var person: PersonView
    var faceId: Int64
    /// The model that matched this face: the company's, or for a face without its embedding the face's own.
    var model: String
    /// In `model`'s units.
    var distance: Double
    /// `Similarity.of(distance:model:)`, 0…1.
    var similarity: Double

    init(_ candidate: Recognition.Candidate) {
        person = PersonView(candidate.person)
        faceId = candidate.faceID
        model = candidate.model.rawValue
        distance = candidate.distance
        similarity = candidate.similarity
    }
}

struct FaceResult: Encodable, Sendable {
    var box: FaceBox
    var decision: String
    var candidates: [CandidateView]
}

struct SearchResponse: ResponseEncodable, Sendable {
    var success = true
    /// The decision when the probe shows one face (or `no_face`); per face in `faces` otherwise.
    var decision: String?
    var faces: [FaceResult]
    /// The company's recognition model.
    var model: String
    /// The rule that decided (in the company model's units) and the preset it came from.
    var threshold: ThresholdView

    init(_ result: Recognition.Identification) {
        decision = result.decision?.rawValue
        faces = result.faces.map { FaceResult(box: $0.box, decision: $0.decision.rawValue, candidates: $0.candidates.map(CandidateView.init)) }
        model = result.model.rawValue
        threshold = ThresholdView(maxDistance: Recognition.rounded(Float(result.rule.threshold)), margin: Recognition.rounded(Float(result.rule.margin)),
                                  preset: result.preset)
    }
}

struct ThresholdView: Encodable, Sendable {
    var maxDistance: Double
    var margin: Double
    /// `strict`, `balanced`, `lenient`, `custom` (the company's), or `request` (the caller's max_distance / min_similarity).
    var preset: String
}

struct AccessEntryView: ResponseEncodable, Sendable {
    var id: Int64
    var at: String
    var actor: String
    var deviceId: Int64?
    var location: String
    var probeSha256: String
    var decision: String
    var personId: Int64?
    var distance: Double?
    var faceCount: Int
    var latencyMs: Double

    init(_ record: AccessRecord) {
        id = record.id!
        at = Timestamp.format(micros: record.atMicros)
        actor = record.actor
        deviceId = record.deviceID
        location = record.location
        probeSha256 = record.probeSHA256
        decision = record.decision
        personId = record.personID
        distance = record.distance
        faceCount = record.faceCount
        latencyMs = (record.latencyMs * 100).rounded() / 100
    }
}

struct AccessLogPage: ResponseEncodable, Sendable {
    var success = true
    var entries: [AccessEntryView]
    var nextCursor: String?
}

struct VerifyRequest: Decodable {
    var image: String
    var personId: Int64
    var maxDistance: Double?
    var minSimilarity: Double?
    var location: String?
}

struct VerifyResponse: ResponseEncodable, Sendable {
    var success = true
    var decision: String
    var distance: Double?
    var similarity: Double?
    var faceId: Int64?
    var model: String?

    init(_ result: Recognition.Verification) {
        decision = result.decision.rawValue
        distance = result.distance
        similarity = result.similarity
        faceId = result.faceID
        model = result.model?.rawValue
    }
}
