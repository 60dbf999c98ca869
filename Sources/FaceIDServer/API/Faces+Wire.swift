import Foundation
import Hummingbird

struct ImportItem: Decodable {
    var personId: Int64?
    var externalId: String?
    var fullName: String?
    var encoding: [Double]
    /// `dlib-resnet-v1` (the default: what kiosks and `face_recognition` compute) or `sface-2021dec`.
    var model: String?
}

struct ImportResponse: ResponseEncodable, Sendable {
    var success = true
    var imported: Int
    var faceIds: [Int64]
    var personIds: [Int64]
}

struct FaceView: ResponseEncodable, Sendable {
    var id: Int64
    var personId: Int64
    var modelId: String
    var source: String
    var reference: Bool
    var createdAt: String
    /// Only with `include_encoding=true`.
    var encoding: [Double]?

    init(_ record: FaceRecord) {
        id = record.id!
        personId = record.personID
        modelId = record.modelID
        source = record.source
        reference = record.reference
        createdAt = Timestamp.format(record.createdAt)
    }
}

struct FaceResponse: ResponseEncodable, Sendable {
    var success = true
    var face: FaceView
}

struct FaceList: ResponseEncodable, Sendable {
    var success = true
    var faces: [FaceView]
}
