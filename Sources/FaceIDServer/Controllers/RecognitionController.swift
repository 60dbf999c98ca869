import Crypto
import FaceEngine
import Foundation
import Hummingbird
import VectorIndex

/// `POST /face/enroll`, `POST /face/search`, `POST /face/verify` and the access log `GET /logs`: photos in (base64
/// in JSON, or multipart), faces through FaceEngine (off the event loop, on its own pool), the store and the index.
struct RecognitionController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/face/enroll", .managePersons, use: enroll)
        routes.on(.post, "/face/search", .recognize, use: search)
        routes.on(.post, "/face/verify", .recognize, use: verify)
        routes.on(.get, "/logs", .readAccessLog, use: logs)
    }

    // MARK: Enroll

    @Sendable func enroll(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Created<EnrollResponse> {
        let body = try await PhotoForm.decode(EnrollRequest.self, from: request, limit: services.configuration.maxBodySize)
        let settings = context.companySettings ?? services.defaultSettings
        var newPerson: PersonRecord?
        let groups = try (body.groups ?? []).map { try Validate.name($0, field: "groups", maximum: 100) }
        if let personID = body.personId {
            // A missing person is a 404 before any photo work (and before the duplicate guard could answer 409).
            guard try await services.store.person(id: personID, companyID: principal.companyID) != nil else {
                throw ServiceError.notFound("Person")
            }
        } else {
            let now = Date()
            newPerson = PersonRecord(
                id: nil, companyID: principal.companyID, externalID: try PersonsController.externalID(body.externalId),
                fullName: try Validate.name(body.fullName ?? "", field: "full_name"),
                tags: PersonRecord.encodeTags(try PersonsController.tags(body.tags ?? [])),
                metadata: try PersonsController.metadata(body.metadata ?? [:]), createdAt: now, updatedAt: now)
        }
        let image = try Self.image(body.image)
        // The company's model finds the face and judges its quality; every model's embedding is stored.
        let model = settings.model
        let analysis = try await services.faces.analyze(image, model: model, also: Set(RecognitionModel.allCases))
        let face = try Self.select(analysis, largest: body.select == "largest")

        // The duplicate guard: the nearest face of another person within the model's duplicate distance (the company's
        // setting for its model, the default of each other model for the faces only that model finds).
        try await services.index.catchUp(principal.companyID)
        var nearest: [SearchResult] = []
        let recognizer = Recognizer(services: services)
        for other in RecognitionModel.allCases {
            guard let vector = face.embeddings[other] else { continue }
            let found: [SearchResult]
            let limit: Double
            if other == model {
                found = try services.index.search(principal.companyID, .all(other), encoding: vector, k: 5)
                limit = settings.duplicateDistance
            } else {
                found = try await recognizer.searchOnly(other, companyID: principal.companyID, vector: vector, k: 5, allow: nil)
                limit = other.defaultDuplicateDistance
            }
            for hit in found where Double(hit.distance) <= limit { nearest.append(hit) }
        }
        if !nearest.isEmpty {
            let owners = try await services.store.persons(ofFaces: nearest.map { Int64($0.id) }, companyID: principal.companyID)
            if let hit = nearest.first(where: { owners[Int64($0.id)].map { $0.record.id != body.personId } ?? false }),
               let other = owners[Int64(hit.id)] {
                let mayOverride = principal.role == .owner || principal.role == .admin || principal.can(.manageSettings)
                if !(body.allowDuplicate == true && mayOverride) {
                    throw ServiceError.duplicateFace(personID: other.record.id!, fullName: other.record.fullName,
                                                     distance: Recognizer.rounded(hit.distance))
                }
            }
        }
        let (person, record) = try await services.store.enroll(
            companyID: principal.companyID, embeddings: face.embeddings, personID: body.personId, newPerson: newPerson, groups: groups,
            reference: body.reference ?? false, keyRing: services.keyRing,
            photo: Store.KeptPhoto(data: image, vault: services.index.images, fallback: services.defaultSettings),
            actor: principal.actor, origin: services.origin(request, context))
        try await services.index.catchUp(principal.companyID)
        return Created(value: EnrollResponse(faceId: record.id!, person: PersonView(person), box: face.box,
                                             quality: QualityView(face.quality), models: RecognitionModel.allCases
                                                .filter { face.embeddings[$0] != nil }.map(\.rawValue)))
    }

    // MARK: Search

    /// Searches and writes the access-log entry (every analysed probe, `no_face` included).
    @Sendable func search(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> SearchResponse {
        let start = ContinuousClock.now
        let body = try await PhotoForm.decode(SearchRequest.self, from: request, limit: services.configuration.maxBodySize)
        let image = try Self.image(body.image)
        let location = try Validate.optionalName(body.location, field: "location") ?? ""
        let response = try await identify(image, body: body, principal: principal, settings: context.companySettings ?? services.defaultSettings)
        let best = response.faces.first?.candidates.first
        try await logAccess(
            image, decision: response.decision ?? response.faces.first?.decision ?? "no_face", personID: best?.person.id,
            distance: best?.distance, faceCount: response.faces.count, location: location, since: start, principal: principal,
            context: context)
        return response
    }

    /// One access-log entry (search and verify), with the retention purge in the same transaction.
    private func logAccess(
        _ image: Data, decision: String, personID: Int64?, distance: Double?, faceCount: Int, location: String,
        since start: ContinuousClock.Instant, principal: Principal, context: AppRequestContext
    ) async throws {
        let elapsed = ContinuousClock.now - start
        let entry = AccessRecord(
            id: nil, companyID: principal.companyID, atMicros: Int64(Date().timeIntervalSince1970 * 1e6), actor: principal.actor,
            deviceID: principal.deviceID, location: location, probeSHA256: SHA256.hash(data: image).map { String(format: "%02x", $0) }.joined(),
            decision: decision, personID: personID, distance: distance, faceCount: faceCount,
            latencyMs: Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        try await services.store.appendAccess(entry, retentionDays: (context.companySettings ?? services.defaultSettings).logRetentionDays)
    }

    private func identify(_ image: Data, body: SearchRequest, principal: Principal, settings: CompanySettings) async throws -> SearchResponse {
        let topK = body.topK ?? Limits.topKDefault
        guard Limits.topK.contains(topK) else {
            throw ServiceError.invalidField("top_k", "expected \(Limits.topK.lowerBound)…\(Limits.topK.upperBound)")
        }
        let rules = try Recognizer.rules(settings: settings, maxDistance: body.maxDistance, minSimilarity: body.minSimilarity)
        guard [nil, "all", "largest"].contains(body.faces) else { throw ServiceError.invalidField("faces", "expected all or largest") }
        var allow: (@Sendable (UInt64) -> Bool)?
        if let group = body.group {
            guard let members = try await services.store.faceIDs(inGroup: group, companyID: principal.companyID) else {
                throw ServiceError.unknownGroup(group)
            }
            allow = { members.contains($0) }
        }
        let recognizer = Recognizer(services: services)
        let (analysis, fallbacks) = try await recognizer.probes(image, companyID: principal.companyID, model: settings.model)
        var probes = analysis.faces
        if body.faces == "largest", let largest = analysis.largestFace { probes = [largest] }
        guard !probes.isEmpty else { return SearchResponse(decision: "no_face", faces: [], model: settings.recognitionModel) }
        var results: [FaceResult] = []
        for probe in probes {
            let candidates = try await recognizer.candidates(probe, companyID: principal.companyID, model: settings.model,
                                                             fallbacks: fallbacks, topK: topK, rules: rules, allow: allow)
            results.append(FaceResult(box: probe.box, decision: Recognizer.decide(candidates, rules: rules), candidates: candidates))
        }
        return SearchResponse(decision: results.count == 1 ? results[0].decision : nil, faces: results, model: settings.recognitionModel)
    }

    /// 1:1 — the distance from the probe's face (the largest) to the person's nearest enrolled face, and the decision
    /// against the company's threshold (`match` or `unknown`; `no_face` without a face).
    @Sendable func verify(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> VerifyResponse {
        let start = ContinuousClock.now
        let body = try await PhotoForm.decode(VerifyRequest.self, from: request, limit: services.configuration.maxBodySize)
        let image = try Self.image(body.image)
        let location = try Validate.optionalName(body.location, field: "location") ?? ""
        let response = try await compare(image, body: body, principal: principal, settings: context.companySettings ?? services.defaultSettings)
        try await logAccess(image, decision: response.decision, personID: body.personId, distance: response.distance,
                            faceCount: response.decision == "no_face" ? 0 : 1, location: location, since: start, principal: principal,
                            context: context)
        return response
    }

    private func compare(_ image: Data, body: VerifyRequest, principal: Principal, settings: CompanySettings) async throws -> VerifyResponse {
        let rules = try Recognizer.rules(settings: settings, maxDistance: body.maxDistance, minSimilarity: body.minSimilarity)
        guard let faces = try await services.store.faces(personID: body.personId, companyID: principal.companyID) else {
            throw ServiceError.notFound("Person")
        }
        return try await Recognizer(services: services).verify(image, faces: faces, companyID: principal.companyID,
                                                               model: settings.model, rules: rules)
    }

    /// `GET /logs`: filters `person_id`, `device_id`, `decision`, `from`, `to`; `limit` ≤ 500; `cursor` for older pages.
    @Sendable func logs(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> AccessLogPage {
        let limit = try request.pageLimit()
        let filter = Store.AccessFilter(
            personID: try request.queryID("person_id"), deviceID: try request.queryID("device_id"),
            decision: try request.query("decision", oneOf: ["match", "ambiguous", "unknown", "no_face"]),
            from: try request.queryTime("from"), to: try request.queryTime("to"),
            beforeID: try request.queryID("cursor"), limit: limit)
        let entries = try await services.store.accessEntries(companyID: principal.companyID, filter: filter)
        return AccessLogPage(entries: entries.map(AccessEntryView.init),
                             nextCursor: Page.nextCursor(count: entries.count, limit: limit, lastID: entries.last?.id))
    }

    // MARK: Helpers

    static func image(_ base64: String) throws(ServiceError) -> Data {
        let text = base64.hasPrefix("data:") ? String(base64.drop { $0 != "," }.dropFirst()) : base64
        guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
            throw ServiceError.invalidField("image", "expected base64 of a JPEG or PNG")
        }
        return data
    }

    /// The face to enroll, or 422 with the quality gate's reason.
    /// The photo's subject is its largest face. Another face makes the photo ambiguous (`multiple_faces`) when it is at
    /// least two thirds of the subject's size (shorter sides) and lies wholly inside the frame, not touching its edge: a
    /// bystander further back, or one the frame cuts — which YuNet finds in many LFW photos (Tony_Blair_0001: a 60-px
    /// face at the left edge beside the 92-px subject) and HOG mostly misses — does not.
    static func select(_ analysis: PhotoAnalysis, largest: Bool) throws(ServiceError) -> PhotoFace {
        guard let face = analysis.largestFace else {
            throw ServiceError.noFace
        }
        let side = min(face.box.width, face.box.height)
        let subjects = 1 + analysis.faces.filter { other in
            other.box != face.box && 3 * min(other.box.width, other.box.height) >= 2 * side && other.quality.borderMargin > 0
        }.count
        if subjects > 1 && !largest {
            throw ServiceError.multipleFaces(subjects)
        }
        if let reason = face.quality.reasons.first(where: { $0 != .multipleFaces }) {
            throw ServiceError.poorQuality(reason, face.quality)
        }
        return face
    }
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
    /// The models whose embeddings were stored for the face.
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

struct Candidate: Encodable, Sendable {
    var person: PersonView
    var faceId: Int64
    /// The model that matched this face: the company's, or for a face without its embedding the face's own.
    var model: String
    /// In `model`'s units.
    var distance: Double
    /// `Similarity.of(distance:model:)`, 0…1.
    var similarity: Double
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
    /// The company's recognition model.
    var model: String
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
    var distance: Double? = nil
    var similarity: Double? = nil
    var faceId: Int64? = nil
    var model: String? = nil
}
