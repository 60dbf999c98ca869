import FaceEngine
import Foundation
import Hummingbird

/// `POST /face/enroll` and `POST /face/search`: photos in (base64 in JSON), faces through FaceEngine (off the
/// event loop, on its own pool), the store and the index.
struct RecognitionController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/face/enroll", .managePersons, use: enroll)
        routes.on(.post, "/face/search", .recognize, use: search)
    }

    // MARK: Enroll

    @Sendable func enroll(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Created<EnrollResponse> {
        let body = try await request.decodeJSON(EnrollRequest.self, limit: services.configuration.maxBodySize)
        let settings = context.companySettings ?? services.defaultSettings
        var newPerson: PersonRecord?
        let groups = try (body.groups ?? []).map { try Validate.name($0, field: "groups", maximum: 100) }
        if body.personId == nil {
            let now = Date()
            newPerson = PersonRecord(
                id: nil, companyID: principal.companyID, externalID: try PersonsController.externalID(body.externalId),
                fullName: try Validate.name(body.fullName ?? "", field: "full_name"),
                tags: PersonRecord.encodeTags(try PersonsController.tags(body.tags ?? [])),
                metadata: try PersonsController.metadata(body.metadata ?? [:]), createdAt: now, updatedAt: now)
        }
        let analysis = try await services.faces.analyze(try Self.image(body.image))
        let face = try Self.select(analysis, largest: body.select == "largest")

        // The duplicate guard: the nearest face of another person within the company's duplicate distance.
        try await services.index.catchUp(principal.companyID)
        let nearest = try services.index.search(principal.companyID, encoding: face.descriptor, k: 5)
            .filter { Double($0.distance) <= settings.duplicateDistance }
        if !nearest.isEmpty {
            let owners = try await services.store.persons(ofFaces: nearest.map { Int64($0.id) }, companyID: principal.companyID)
            if let hit = nearest.first(where: { owners[Int64($0.id)].map { $0.record.id != body.personId } ?? false }),
               let other = owners[Int64(hit.id)] {
                let mayOverride = principal.role == .owner || principal.role == .admin || principal.can(.manageSettings)
                if !(body.allowDuplicate == true && mayOverride) {
                    var error = APIError(.conflict, code: "duplicate_face",
                                         "This face is already enrolled for another person",
                                         detail: "person_id \(other.record.id!) (\(other.record.fullName)), distance \(Self.rounded(hit.distance))")
                    error.extra = ["person_id": String(other.record.id!), "full_name": other.record.fullName,
                                   "distance": String(Self.rounded(hit.distance))]
                    throw error
                }
            }
        }
        let (person, record) = try await services.store.enroll(
            companyID: principal.companyID, encoding: face.descriptor, personID: body.personId, newPerson: newPerson, groups: groups,
            reference: body.reference ?? false, keyRing: services.keyRing, actor: principal.actor, origin: services.origin(request, context))
        try await services.index.catchUp(principal.companyID)
        return Created(value: EnrollResponse(faceId: record.id!, person: PersonView(person), box: face.box,
                                             quality: QualityView(face.quality)))
    }

    // MARK: Search

    @Sendable func search(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> SearchResponse {
        let body = try await request.decodeJSON(SearchRequest.self, limit: services.configuration.maxBodySize)
        let settings = context.companySettings ?? services.defaultSettings
        let topK = body.topK ?? 5
        guard (1...100).contains(topK) else { throw APIError.invalidField("top_k", "expected 1…100") }
        let threshold = body.maxDistance ?? settings.matchThreshold
        guard (0...2).contains(threshold) else { throw APIError.invalidField("max_distance", "expected 0…2") }
        guard [nil, "all", "largest"].contains(body.faces) else { throw APIError.invalidField("faces", "expected all or largest") }
        var allow: (@Sendable (UInt64) -> Bool)?
        if let group = body.group {
            guard let members = try await services.store.faceIDs(inGroup: group, companyID: principal.companyID) else {
                throw APIError.unknownGroup(group)
            }
            allow = { members.contains($0) }
        }
        let analysis = try await services.faces.analyze(try Self.image(body.image))
        var probes = analysis.faces
        if body.faces == "largest", let largest = analysis.largestFace { probes = [largest] }
        guard !probes.isEmpty else { return SearchResponse(decision: "no_face", faces: []) }
        try await services.index.catchUp(principal.companyID)
        var results: [FaceResult] = []
        for probe in probes {
            // More neighbours than persons asked for: several may be faces of one person.
            let hits = try services.index.search(principal.companyID, encoding: probe.descriptor, k: min(topK * 4, 400), allow: allow)
            let owners = try await services.store.persons(ofFaces: hits.map { Int64($0.id) }, companyID: principal.companyID)
            var candidates: [Candidate] = []
            var seen = Set<Int64>()
            for hit in hits {
                guard let person = owners[Int64(hit.id)], seen.insert(person.record.id!).inserted else { continue }
                candidates.append(Candidate(person: PersonView(person), faceId: Int64(hit.id), distance: Self.rounded(hit.distance)))
                if candidates.count == topK { break }
            }
            results.append(FaceResult(box: probe.box, decision: Self.decide(candidates, threshold: threshold, margin: settings.matchMargin),
                                      candidates: candidates))
        }
        return SearchResponse(decision: results.count == 1 ? results[0].decision : nil, faces: results)
    }

    /// `match`: the best person is within the threshold and ahead of the next person by the margin;
    /// `ambiguous`: within, but not ahead; `unknown`: nobody within.
    static func decide(_ candidates: [Candidate], threshold: Double, margin: Double) -> String {
        guard let best = candidates.first, best.distance <= threshold else { return "unknown" }
        if candidates.count > 1, candidates[1].distance - best.distance < margin { return "ambiguous" }
        return "match"
    }

    // MARK: Helpers

    static func image(_ base64: String) throws(APIError) -> Data {
        let text = base64.hasPrefix("data:") ? String(base64.drop { $0 != "," }.dropFirst()) : base64
        guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
            throw APIError.invalidField("image", "expected base64 of a JPEG or PNG")
        }
        return data
    }

    /// The face to enroll, or 422 with the quality gate's reason.
    static func select(_ analysis: FaceAnalysis, largest: Bool) throws(APIError) -> DetectedFace {
        guard let face = largest ? analysis.largestFace : analysis.faces.first else {
            throw APIError(.unprocessableContent, code: "no_face", "No face was found in the photo")
        }
        if analysis.faces.count > 1 && !largest {
            throw APIError(.unprocessableContent, code: "multiple_faces", "The photo shows \(analysis.faces.count) faces",
                           detail: "send select=largest to enroll the largest one")
        }
        if let reason = face.quality.reasons.first(where: { $0 != .multipleFaces }) {
            throw APIError(.unprocessableContent, code: reason.rawValue, "The face does not pass the quality gate",
                           detail: "size \(face.quality.size) px, detector score \(String(format: "%.2f", face.quality.detectorScore))")
        }
        return face
    }

    static func rounded(_ distance: Float) -> Double { (Double(distance) * 10_000).rounded() / 10_000 }
}

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
}

struct SearchRequest: Decodable {
    var image: String
    var group: String?
    var topK: Int?
    var maxDistance: Double?
    var faces: String?
    var location: String?
}

struct Candidate: Encodable, Sendable {
    var person: PersonView
    var faceId: Int64
    var distance: Double
}

struct FaceResult: Encodable, Sendable {
    var box: FaceBox
    var decision: String
    var candidates: [Candidate]
}

struct SearchResponse: ResponseEncodable, Sendable {
    var success = true
    /// The decision when the probe shows one face (or `no_face`); per face in `faces` otherwise.
    var decision: String?
    var faces: [FaceResult]
}
