import Foundation
import Hummingbird

/// `POST /face/enroll`, `POST /face/search`, `POST /face/verify` and the access log `GET /logs`: photos in (base64
/// in JSON, or multipart), `Enrollment` and `Recognition` do the rest.
struct RecognitionController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/face/enroll", .managePersons, idempotent: true, use: enroll)
        routes.on(.post, "/face/search", .recognize, use: search)
        routes.on(.post, "/face/search/encoding", .recognize, use: searchEncoding)
        routes.on(.post, "/face/verify", .recognize, use: verify)
        routes.on(.get, "/logs", .readAccessLog, use: logs)
    }

    @Sendable func enroll(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        let body = try await PhotoForm.decode(EnrollRequest.self, from: request, limit: services.configuration.maxBodySize)
        let groups = try (body.groups ?? []).map { try Validate.name($0, field: "groups", maximum: 100) }
        let subject: Enrollment.Subject
        if let personID = body.personId {
            subject = .existing(personID: personID)
        } else {
            let now = Date()
            subject = .new(PersonRecord(
                id: nil, companyID: principal.companyID, externalID: try Validate.externalID(body.externalId),
                fullName: try Validate.name(body.fullName ?? "", field: "full_name"),
                tags: PersonRecord.encodeTags(try Validate.tags(body.tags ?? [])),
                metadata: try Validate.metadata(body.metadata ?? [:]), createdAt: now, updatedAt: now), groups: groups)
        }
        let photo = Enrollment.Photo(image: try Self.image(body.image), subject: subject, reference: body.reference ?? false,
                                     selectLargest: body.select == "largest", allowDuplicate: body.allowDuplicate ?? false)
        let settings = context.companySettings ?? services.defaultSettings
        if body.dryRun == true {
            let face = try await services.enrollment.check(photo, settings: settings, principal: principal)
            return try EnrollCheckResponse(box: face.box, quality: QualityView(face.quality), models: Self.models(of: face))
                .response(from: request, context: context)
        }
        let (person, record, face) = try await services.enrollment.enroll(photo, settings: settings, principal: principal,
                                                                           origin: services.origin(request, context))
        return try Created(value: EnrollResponse(faceId: record.id!, person: PersonView(person), box: face.box, quality: QualityView(face.quality),
                                                 models: Self.models(of: face))).response(from: request, context: context)
    }

    /// The models whose embedding the face has, in their fixed order.
    static func models(of face: PhotoFace) -> [String] {
        RecognitionModel.allCases.filter { face.embeddings[$0] != nil }.map(\.rawValue)
    }

    /// Searches; every analysed probe is logged (`no_face` included).
    @Sendable func search(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> SearchResponse {
        let body = try await PhotoForm.decode(SearchRequest.self, from: request, limit: services.configuration.maxBodySize)
        guard [nil, "all", "largest"].contains(body.faces) else { throw ServiceError.invalidField("faces", "expected all or largest") }
        let query = Recognition.Query(
            group: body.group, topK: body.topK ?? Limits.topKDefault, maxDistance: body.maxDistance, minSimilarity: body.minSimilarity,
            largestOnly: body.faces == "largest", location: try Validate.optionalName(body.location, field: "location") ?? "")
        let image = try Self.image(body.image)
        return SearchResponse(try await services.recognition.identify(
            image, query: query, settings: context.companySettings ?? services.defaultSettings, principal: principal))
    }

    /// Searches with a precomputed encoding (logged like a photo search).
    @Sendable func searchEncoding(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> EncodingSearchResponse {
        let body = try await request.decodeJSON(EncodingSearchRequest.self, limit: services.configuration.maxBodySize)
        let model = try body.model.map { try RecognitionModel.named($0, field: "model") } ?? .dlib
        var encoding = try FaceEncoding.validate(body.encoding, field: "encoding")
        if model == .sface { encoding = try FaceEncoding.validateUnit(encoding, field: "encoding") }
        let query = Recognition.Query(
            group: body.group, topK: body.topK ?? Limits.topKDefault, maxDistance: body.maxDistance, minSimilarity: body.minSimilarity,
            largestOnly: true, location: try Validate.optionalName(body.location, field: "location") ?? "")
        let (decision, candidates) = try await services.recognition.identify(
            encoding: encoding, model: model, query: query, settings: context.companySettings ?? services.defaultSettings, principal: principal)
        return EncodingSearchResponse(model: model.rawValue, decision: decision.rawValue, candidates: candidates.map(CandidateView.init))
    }

    /// 1:1 — the distance from the probe's face (the largest) to the person's nearest enrolled face, and the decision
    /// against the company's threshold (`match` or `unknown`; `no_face` without a face).
    @Sendable func verify(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> VerifyResponse {
        let body = try await PhotoForm.decode(VerifyRequest.self, from: request, limit: services.configuration.maxBodySize)
        let image = try Self.image(body.image)
        let location = try Validate.optionalName(body.location, field: "location") ?? ""
        return VerifyResponse(try await services.recognition.verify(
            image, personID: body.personId, maxDistance: body.maxDistance, minSimilarity: body.minSimilarity, location: location,
            settings: context.companySettings ?? services.defaultSettings, principal: principal))
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

    /// The photo's bytes from base64 (a `data:` URL prefix is accepted).
    static func image(_ base64: String) throws(ServiceError) -> Data {
        let text = base64.hasPrefix("data:") ? String(base64.drop { $0 != "," }.dropFirst()) : base64
        guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
            throw ServiceError.invalidField("image", "expected base64 of a JPEG or PNG")
        }
        return data
    }
}
