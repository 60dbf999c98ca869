import FaceEngine
import Foundation
import VectorIndex

/// 1:N and 1:1 under a company's recognition model, and the decision rule.
///
/// A company searches its model's collection. Faces that carry no embedding of that model (kiosk-only employees in an
/// SFace company; faces imported with SFace alone in a dlib company) are searched too, with their own model, its own
/// collection (`IndexSpace.only`) and its own threshold; each candidate says which model matched it. The probe is run
/// through the second model only when such faces exist.
struct Recognizer {
    let services: AppServices

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
                present = try services.index.collection(companyID, .only(.dlib)).count > 0
            } else {
                present = try await services.store.hasFaces(onlyOf: other, companyID: companyID)
            }
            if present { needed.append(other) }
        }
        return needed
    }

    /// The nearest faces that only `model` can find (they have no embedding of another model): dlib's own collection,
    /// or for SFace its whole collection with the faces that also have dlib left out.
    func searchOnly(_ model: RecognitionModel, companyID: Int64, vector: [Float], k: Int,
                    allow: (@Sendable (UInt64) -> Bool)?) async throws -> [SearchResult] {
        if model == .dlib { return try services.index.search(companyID, .only(.dlib), encoding: vector, k: k, allow: allow) }
        let hits = try services.index.search(companyID, .all(model), encoding: vector, k: k, allow: allow)
        let models = try await services.store.rowModels(ofFaces: hits.map { Int64($0.id) }, companyID: companyID)
        return hits.filter { models[Int64($0.id)] == model.rawValue }
    }

    /// Analyses the photo under `model`, with the embeddings a fallback search needs (the index caught up first).
    func probes(_ image: Data, companyID: Int64, model: RecognitionModel) async throws -> (PhotoAnalysis, [RecognitionModel]) {
        var analysis = try await services.faces.analyze(image, model: model)
        guard !analysis.faces.isEmpty else { return (analysis, []) }
        try await services.index.catchUp(companyID)
        let fallbacks = try await needsFallback(companyID: companyID, model: model)
        for other in fallbacks {
            switch other {
            case .dlib: try await services.faces.addDlib(to: &analysis, image: image)
            case .sface: try await services.faces.addSFace(to: &analysis, image: image)
            }
        }
        return (analysis, fallbacks)
    }

    /// The nearest persons, one candidate each: `model`'s collection, then each fallback model's collection of the faces
    /// only it can find. Those within their model's threshold come first, then by similarity; a person's candidate is
    /// their first face in that order (an accepted face of another model beats a closer-looking rejected one).
    func candidates(_ probe: PhotoFace, companyID: Int64, model: RecognitionModel, fallbacks: [RecognitionModel], topK: Int,
                    rules: [RecognitionModel: Rule], allow: (@Sendable (UInt64) -> Bool)?) async throws -> [Candidate] {
        var hits: [(SearchResult, RecognitionModel)] = []
        // More neighbours than persons asked for: several may be faces of one person.
        let k = min(topK * 4, 400)
        if let vector = probe.embeddings[model] {
            let found: [SearchResult] = try services.index.search(companyID, .all(model), encoding: vector, k: k, allow: allow)
            for hit in found { hits.append((hit, model)) }
        }
        for other in fallbacks {
            guard let vector = probe.embeddings[other] else { continue }
            let found = try await searchOnly(other, companyID: companyID, vector: vector, k: k, allow: allow)
            for hit in found { hits.append((hit, other)) }
        }
        let faceIDs: [Int64] = hits.map { (hit: SearchResult, _: RecognitionModel) -> Int64 in Int64(hit.id) }
        let owners = try await services.store.persons(ofFaces: faceIDs, companyID: companyID)
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
            candidates.append(Candidate(person: PersonView(person), faceId: Int64(hit.id), model: model.rawValue,
                                        distance: Self.rounded(hit.distance), similarity: (similarity * 10_000).rounded() / 10_000))
            if candidates.count == topK { break }
        }
        return candidates
    }

    /// `match`: the most similar person accepted by their model's threshold is ahead of the next person of the same model
    /// by that model's margin, and no person found by another model is accepted too; `ambiguous`: accepted, but not
    /// clear; `unknown`: nobody within a threshold. With one model this is: best within the threshold and ahead of the
    /// second by the margin.
    static func decide(_ candidates: [Candidate], rules: [RecognitionModel: Rule]) -> String {
        func accepted(_ candidate: Candidate) -> Bool {
            guard let model = RecognitionModel(rawValue: candidate.model), let rule = rules[model] else { return false }
            return candidate.distance <= rule.threshold
        }
        guard let best = candidates.first(where: accepted), let model = RecognitionModel(rawValue: best.model),
              let rule = rules[model] else { return "unknown" }
        for candidate in candidates where candidate.person.id != best.person.id {
            if candidate.model == best.model {
                if candidate.distance >= best.distance && candidate.distance - best.distance < rule.margin { return "ambiguous" }
            } else if accepted(candidate) {
                return "ambiguous"
            }
        }
        return "match"
    }

    /// 1:1: the probe against the person's nearest face of the company's model; a person without one is compared under
    /// a model they have (the probe then needs that embedding too).
    func verify(_ image: Data, faces: [FaceRecord], companyID: Int64, model: RecognitionModel,
                rules: [RecognitionModel: Rule]) async throws -> VerifyResponse {
        var analysis = try await services.faces.analyze(image, model: model)
        guard analysis.largestFace != nil else { return VerifyResponse(decision: "no_face") }
        try await services.index.catchUp(companyID)
        for candidate in [model] + RecognitionModel.allCases.filter({ $0 != model }) {
            let collection = try services.index.collection(companyID, .all(candidate))
            let vectors = faces.compactMap { face in collection.vector(for: UInt64(face.id!)).map { (face.id!, $0) } }
            guard !vectors.isEmpty else { continue }
            if candidate != model {
                switch candidate {
                case .dlib: try await services.faces.addDlib(to: &analysis, image: image)
                case .sface: try await services.faces.addSFace(to: &analysis, image: image)
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
            return VerifyResponse(decision: Double(distance) <= rule.threshold ? "match" : "unknown", distance: Self.rounded(distance),
                                  similarity: (Similarity.of(distance: Double(distance), model: candidate) * 10_000).rounded() / 10_000,
                                  faceId: faceID, model: candidate.rawValue)
        }
        return VerifyResponse(decision: "unknown")
    }

    static func rounded(_ distance: Float) -> Double { (Double(distance) * 10_000).rounded() / 10_000 }
}
