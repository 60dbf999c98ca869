import Crypto
import FaceEngine
import Foundation
import VectorIndex

/// The outcome of comparing a probe: `match`, `ambiguous`, `unknown`, or `no_face` when the photo shows none.
enum Decision: String, Sendable {
    case match, ambiguous, unknown
    case noFace = "no_face"
}

/// 1:N and 1:1 under a company's recognition model, the decision rule, and the access log entry of every attempt.
///
/// A company searches its model's collection. Faces that carry no embedding of that model (kiosk-only employees in an
/// SFace company; faces imported with SFace alone in a dlib company) are searched too, with their own model, its own
/// collection (`IndexSpace.only`) and its own threshold; each candidate says which model matched it. The probe is run
/// through the second model only when such faces exist.
struct Recognition: Sendable {
    let store: any PersonRepository & LogRepository
    let index: IndexService
    let faces: FaceEngineProvider
    let clock: ServerClock

    /// A person found for a probe face, by one model's embedding.
    struct Candidate: Sendable {
        var person: Store.Person
        var faceID: Int64
        /// The model that matched this face: the company's, or for a face without its embedding the face's own.
        var model: RecognitionModel
        /// In `model`'s units, rounded to 4 decimals.
        var distance: Double
        /// `Similarity.of(distance:model:)`, 0…1, rounded to 4 decimals.
        var similarity: Double
    }

    /// One probe face with its decision and candidates.
    struct FaceMatch: Sendable {
        var box: FaceBox
        var decision: Decision
        var candidates: [Candidate]
    }

    /// A 1:N search: the decision when the probe shows one face (or none), the faces, and the company's model.
    struct Identification: Sendable {
        var decision: Decision?
        var faces: [FaceMatch]
        var model: RecognitionModel
        /// The company model's rule that decided, and where it came from: the company's preset (`strict`, `balanced`,
        /// `lenient`, `custom`) or `request` (the caller's max_distance or min_similarity).
        var rule: Rule
        var preset: String
    }

    /// A 1:1 comparison.
    struct Verification: Sendable {
        var decision: Decision
        var distance: Double?
        var similarity: Double?
        var faceID: Int64?
        var model: RecognitionModel?
    }

    /// What a search asks for.
    struct Query: Sendable {
        var group: String?
        var topK = Limits.topKDefault
        var maxDistance: Double?
        var minSimilarity: Double?
        /// Only the largest face of the probe.
        var largestOnly = false
        /// Where the probe was taken (the access log's `location`).
        var location = ""
    }

    /// Per model: the largest distance that matches and the margin over the next person.
    struct Rule: Sendable {
        var threshold: Double
        var margin: Double
    }

    /// The company's model with the request's or the company's threshold, and every other model at its own preset of the
    /// same name (`balanced` when the company's is custom). `max_distance` is in the company model's units and applies to
    /// it alone; `min_similarity` is converted per model.
    static func rules(settings: CompanySettings, maxDistance: Double?, minSimilarity: Double?) throws(ServiceError) -> [RecognitionModel: Rule] {
        if maxDistance != nil, minSimilarity != nil {
            throw .invalidField("min_similarity", "send max_distance or min_similarity, not both")
        }
        if let maxDistance, !(0...2).contains(maxDistance) { throw .invalidField("max_distance", "expected 0…2") }
        let preset = MatchPreset(rawValue: settings.matchPreset) ?? .balanced
        var rules: [RecognitionModel: Rule] = [:]
        for model in RecognitionModel.allCases {
            var rule = Rule(threshold: model.threshold(preset), margin: model.margin(preset))
            if model == settings.model {
                rule = Rule(threshold: maxDistance ?? settings.matchThreshold, margin: settings.matchMargin)
            }
            if let minSimilarity { rule.threshold = try Similarity.distance(minimum: minSimilarity, model: model) }
            rules[model] = rule
        }
        return rules
    }

    /// The other models of faces the company's model cannot find, so a probe needs their embeddings too.
    func needsFallback(companyID: Int64, model: RecognitionModel) async throws -> [RecognitionModel] {
        var needed: [RecognitionModel] = []
        for other in RecognitionModel.allCases where other != model {
            var present = false
            if other == .dlib {
                present = try index.collection(companyID, .only(.dlib)).count > 0
            } else {
                present = try await store.hasFaces(onlyOf: other, companyID: companyID)
            }
            if present { needed.append(other) }
        }
        return needed
    }

    /// The nearest faces that only `model` can find (they have no embedding of another model): dlib's own collection,
    /// or for SFace its whole collection with the faces that also have dlib left out.
    func searchOnly(_ model: RecognitionModel, companyID: Int64, vector: [Float], k: Int,
                    allow: (@Sendable (UInt64) -> Bool)?) async throws -> [SearchResult] {
        if model == .dlib { return try index.search(companyID, .only(.dlib), encoding: vector, k: k, allow: allow) }
        let hits = try index.search(companyID, .all(model), encoding: vector, k: k, allow: allow)
        let models = try await store.rowModels(ofFaces: hits.map { Int64($0.id) }, companyID: companyID)
        return hits.filter { models[Int64($0.id)] == model.rawValue }
    }

    /// Analyses the photo under `model`, with the embeddings a fallback search needs (the index caught up first).
    func probes(_ image: Data, companyID: Int64, model: RecognitionModel) async throws -> (PhotoAnalysis, [RecognitionModel]) {
        var analysis = try await faces.analyze(image, model: model)
        guard !analysis.faces.isEmpty else { return (analysis, []) }
        try await index.catchUp(companyID)
        let fallbacks = try await needsFallback(companyID: companyID, model: model)
        for other in fallbacks {
            switch other {
            case .dlib: try await faces.addDlib(to: &analysis, image: image)
            case .sface: try await faces.addSFace(to: &analysis, image: image)
            }
        }
        return (analysis, fallbacks)
    }

    /// The nearest persons, one candidate each: `model`'s collection, then each fallback model's collection of the faces
    /// only it can find. Those within their model's threshold come first, then by similarity; a person's candidate is
    /// their first face in that order (an accepted face of another model beats a closer-looking rejected one).
    func candidates(_ embeddings: [RecognitionModel: [Float]], companyID: Int64, model: RecognitionModel, fallbacks: [RecognitionModel], topK: Int,
                    rules: [RecognitionModel: Rule], allow: (@Sendable (UInt64) -> Bool)?) async throws -> [Candidate] {
        var hits: [(SearchResult, RecognitionModel)] = []
        // More neighbours than persons asked for: several may be faces of one person.
        let k = min(topK * 4, 400)
        if let vector = embeddings[model] {
            let found: [SearchResult] = try index.search(companyID, .all(model), encoding: vector, k: k, allow: allow)
            for hit in found { hits.append((hit, model)) }
        }
        for other in fallbacks {
            guard let vector = embeddings[other] else { continue }
            let found = try await searchOnly(other, companyID: companyID, vector: vector, k: k, allow: allow)
            for hit in found { hits.append((hit, other)) }
        }
        let faceIDs: [Int64] = hits.map { (hit: SearchResult, _: RecognitionModel) -> Int64 in Int64(hit.id) }
        let owners = try await store.persons(ofFaces: faceIDs, companyID: companyID)
        var ranked: [(hit: SearchResult, model: RecognitionModel, similarity: Double, accepted: Bool)] = []
        for (hit, model) in hits {
            let accepted = rules[model].map { Double(hit.distance) <= $0.threshold } ?? false
            ranked.append((hit, model, Similarity.of(distance: Double(hit.distance), model: model), accepted))
        }
        ranked.sort { a, b in
            if a.accepted != b.accepted { return a.accepted }
            return a.similarity != b.similarity ? a.similarity > b.similarity : a.hit.distance < b.hit.distance
        }
        var candidates: [Candidate] = []
        var seen = Set<Int64>()
        for (hit, model, similarity, _) in ranked {
            guard let person = owners[Int64(hit.id)], seen.insert(person.record.id!).inserted else { continue }
            candidates.append(Candidate(person: person, faceID: Int64(hit.id), model: model,
                                        distance: Self.rounded(hit.distance), similarity: (similarity * 10_000).rounded() / 10_000))
            if candidates.count == topK { break }
        }
        return candidates
    }

    /// `match`: the most similar person accepted by their model's threshold is ahead of the next person of the same model
    /// by that model's margin, and no person found by another model is accepted too; `ambiguous`: accepted, but not
    /// clear; `unknown`: nobody within a threshold. With one model this is: best within the threshold and ahead of the
    /// second by the margin.
    static func decide(_ candidates: [Candidate], rules: [RecognitionModel: Rule]) -> Decision {
        func accepted(_ candidate: Candidate) -> Bool {
            guard let rule = rules[candidate.model] else { return false }
            return candidate.distance <= rule.threshold
        }
        guard let best = candidates.first(where: accepted), let rule = rules[best.model] else { return .unknown }
        for candidate in candidates where candidate.person.record.id != best.person.record.id {
            if candidate.model == best.model {
                if candidate.distance >= best.distance && candidate.distance - best.distance < rule.margin { return .ambiguous }
            } else if accepted(candidate) {
                return .ambiguous
            }
        }
        return .match
    }

    /// 1:1: the probe against the person's nearest face of the company's model; a person without one is compared under
    /// a model they have (the probe then needs that embedding too).
    private func compare(_ image: Data, stored: [FaceRecord], companyID: Int64, model: RecognitionModel,
                         rules: [RecognitionModel: Rule]) async throws -> Verification {
        var analysis = try await faces.analyze(image, model: model)
        guard analysis.largestFace != nil else { return Verification(decision: .noFace) }
        try await index.catchUp(companyID)
        for candidate in [model] + RecognitionModel.allCases.filter({ $0 != model }) {
            let collection = try index.collection(companyID, .all(candidate))
            let vectors = try stored.compactMap { face in try collection.vector(for: UInt64(face.id!)).map { (face.id!, $0) } }
            guard !vectors.isEmpty else { continue }
            if candidate != model {
                switch candidate {
                case .dlib: try await faces.addDlib(to: &analysis, image: image)
                case .sface: try await faces.addSFace(to: &analysis, image: image)
                }
            }
            guard let probe = analysis.largestFace?.embeddings[candidate], let rule = rules[candidate] else { continue }
            var faceID: Int64 = 0
            var distance = Float.infinity
            for (id, vector) in vectors {
                var sum: Float = 0
                for (a, b) in zip(vector, probe) { sum += (a - b) * (a - b) }
                if sum.squareRoot() < distance { (faceID, distance) = (id, sum.squareRoot()) }
            }
            return Verification(decision: Double(distance) <= rule.threshold ? .match : .unknown, distance: Self.rounded(distance),
                                similarity: (Similarity.of(distance: Double(distance), model: candidate) * 10_000).rounded() / 10_000,
                                faceID: faceID, model: candidate)
        }
        return Verification(decision: .unknown)
    }

    static func rounded(_ distance: Float) -> Double { (Double(distance) * 10_000).rounded() / 10_000 }

    // MARK: Search and verify, logged

    /// 1:N: every face of the probe (or its largest) against the company's faces; the attempt is logged.
    func identify(_ image: Data, query: Query, settings: CompanySettings, principal: Principal) async throws -> Identification {
        let start = ContinuousClock.now
        let result = try await search(image, query: query, settings: settings, companyID: principal.companyID)
        let best = result.faces.first?.candidates.first
        try await logAccess(image, decision: result.decision ?? result.faces.first?.decision ?? .noFace, personID: best?.person.record.id,
                            distance: best?.distance, faceCount: result.faces.count, location: query.location, since: start,
                            principal: principal, settings: settings)
        return result
    }

    private func search(_ image: Data, query: Query, settings: CompanySettings, companyID: Int64) async throws -> Identification {
        guard Limits.topK.contains(query.topK) else {
            throw ServiceError.invalidField("top_k", "expected \(Limits.topK.lowerBound)…\(Limits.topK.upperBound)")
        }
        let rules = try Self.rules(settings: settings, maxDistance: query.maxDistance, minSimilarity: query.minSimilarity)
        var allow: (@Sendable (UInt64) -> Bool)?
        if let group = query.group {
            guard let members = try await store.faceIDs(inGroup: group, companyID: companyID) else { throw ServiceError.unknownGroup(group) }
            allow = { members.contains($0) }
        }
        let (analysis, fallbacks) = try await probes(image, companyID: companyID, model: settings.model)
        var probes = analysis.faces
        if query.largestOnly, let largest = analysis.largestFace { probes = [largest] }
        let preset = query.maxDistance == nil && query.minSimilarity == nil ? settings.matchPreset : "request"
        guard !probes.isEmpty else {
            return Identification(decision: .noFace, faces: [], model: settings.model, rule: rules[settings.model]!, preset: preset)
        }
        var results: [FaceMatch] = []
        for probe in probes {
            let found = try await candidates(probe.embeddings, companyID: companyID, model: settings.model, fallbacks: fallbacks, topK: query.topK,
                                             rules: rules, allow: allow)
            results.append(FaceMatch(box: probe.box, decision: Self.decide(found, rules: rules), candidates: found))
        }
        return Identification(decision: results.count == 1 ? results[0].decision : nil, faces: results, model: settings.model,
                              rule: rules[settings.model]!, preset: preset)
    }

    /// 1:N for a precomputed encoding of `model` (a kiosk's, or `face_recognition`'s): one probe face, ranked and decided
    /// as a photo's face is; the attempt is logged with the SHA-256 of the encoding's float32 bytes as its probe hash.
    func identify(encoding: [Float], model: RecognitionModel, query: Query, settings: CompanySettings,
                  principal: Principal) async throws -> (decision: Decision, candidates: [Candidate]) {
        let start = ContinuousClock.now
        guard Limits.topK.contains(query.topK) else {
            throw ServiceError.invalidField("top_k", "expected \(Limits.topK.lowerBound)…\(Limits.topK.upperBound)")
        }
        let companyID = principal.companyID
        let rules = try Self.rules(settings: settings, maxDistance: query.maxDistance, minSimilarity: query.minSimilarity)
        var allow: (@Sendable (UInt64) -> Bool)?
        if let group = query.group {
            guard let members = try await store.faceIDs(inGroup: group, companyID: companyID) else { throw ServiceError.unknownGroup(group) }
            allow = { members.contains($0) }
        }
        try await index.catchUp(companyID)
        let found = try await candidates([model: encoding], companyID: companyID, model: model, fallbacks: [], topK: query.topK,
                                         rules: rules, allow: allow)
        let decision = Self.decide(found, rules: rules)
        let best = found.first
        try await logAccess(FaceEncoding.bytes(encoding), decision: decision, personID: best?.person.record.id, distance: best?.distance,
                            faceCount: 1, location: query.location, since: start, principal: principal, settings: settings)
        return (decision, found)
    }

    /// 1:1: the probe's largest face against the person's nearest face; the attempt is logged.
    func verify(_ image: Data, personID: Int64, maxDistance: Double?, minSimilarity: Double?, location: String,
                settings: CompanySettings, principal: Principal) async throws -> Verification {
        let start = ContinuousClock.now
        let rules = try Self.rules(settings: settings, maxDistance: maxDistance, minSimilarity: minSimilarity)
        guard let stored = try await store.faces(personID: personID, companyID: principal.companyID) else {
            throw StoreError.notFound(.person)
        }
        let result = try await compare(image, stored: stored, companyID: principal.companyID, model: settings.model, rules: rules)
        try await logAccess(image, decision: result.decision, personID: personID, distance: result.distance,
                            faceCount: result.decision == .noFace ? 0 : 1, location: location, since: start, principal: principal,
                            settings: settings)
        return result
    }

    /// One access-log entry (search and verify): the probe's SHA-256, never the photo; the retention purge runs in the same
    /// transaction.
    private func logAccess(
        _ image: Data, decision: Decision, personID: Int64?, distance: Double?, faceCount: Int, location: String,
        since start: ContinuousClock.Instant, principal: Principal, settings: CompanySettings
    ) async throws {
        let elapsed = ContinuousClock.now - start
        let entry = AccessRecord(
            id: nil, companyID: principal.companyID, atMicros: Int64(clock.now.timeIntervalSince1970 * 1e6), actor: principal.actor,
            deviceID: principal.deviceID, location: location, probeSHA256: SHA256.hash(data: image).map { String(format: "%02x", $0) }.joined(),
            decision: decision.rawValue, personID: personID, distance: distance, faceCount: faceCount,
            latencyMs: Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        try await store.appendAccess(entry, retentionDays: settings.logRetentionDays)
    }
}
