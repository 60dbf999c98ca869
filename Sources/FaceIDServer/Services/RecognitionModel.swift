import FaceEngine
import Foundation

/// A recognition model the server stores embeddings of, and every rule that depends on it: its presets, its
/// similarity mapping, its duplicate distance and the ranges a company may set. Embeddings of different models live
/// in different index collections and are never compared.
///
/// Calibration (LFW deep-funneled, `faceid-bench accuracy --model dlib|sface`, README "Thresholds and presets"):
/// - `dlib-resnet-v1`: what the kiosks' Python `face_recognition` computes. Balanced 0.50 finds 77 % of known probes
///   and accepts 4.5 % of strangers (1,680 enrolled).
/// - `sface-2021dec`: YuNet + SFace. Balanced 1.02 finds 95.2 % of known probes and accepts 0.9 % of strangers.
enum RecognitionModel: String, CaseIterable, Sendable, Codable {
    case dlib = "dlib-resnet-v1"
    case sface = "sface-2021dec"

    /// The model new companies use for photo search and verification.
    static let defaultForNewCompanies = RecognitionModel.sface

    func threshold(_ preset: MatchPreset) -> Double {
        switch (self, preset) {
        case (.dlib, .strict): 0.42
        case (.dlib, .balanced): 0.50
        case (.dlib, .lenient): 0.55
        // SFace, server rule (threshold and margin), open set of 1,680 enrolled and 4,069 strangers:
        // strict 93.7 % known correct / 0.4 % strangers accepted, balanced 95.2 / 0.9, lenient 97.3 / 4.7.
        case (.sface, .strict): 1.00
        case (.sface, .balanced): 1.02
        case (.sface, .lenient): 1.06
        }
    }

    func margin(_ preset: MatchPreset) -> Double {
        switch (self, preset) {
        case (.dlib, .strict): 0.06
        case (.dlib, _): 0.04
        case (.sface, .strict): 0.05
        case (.sface, .balanced): 0.04
        case (.sface, .lenient): 0.03
        }
    }

    /// The thresholds a company may set (`match_threshold`).
    var thresholdRange: ClosedRange<Double> {
        switch self {
        case .dlib: 0.2...0.8
        case .sface: 0.6...1.3
        }
    }

    /// A face of another person this close is a duplicate at enrollment. dlib: 0.45 (below its strict preset);
    /// SFace: 0.90, its all-pairs FAR 1e-6 threshold on LFW (87.8 % of same-person pairs of different photos are closer).
    var defaultDuplicateDistance: Double {
        switch self {
        case .dlib: 0.45
        case .sface: 0.90
        }
    }

    var duplicateRange: ClosedRange<Double> {
        switch self {
        case .dlib: 0...0.8
        case .sface: 0...1.2
        }
    }

    /// The logistic fit of P(same person | distance) on LFW's pairs.txt: similarity = (tanh((d0 − distance) · k) + 1) / 2.
    var similarityFit: (d0: Double, k: Double) {
        switch self {
        case .dlib: (0.6258, 22.55)
        case .sface: (1.1666, 20.018)
        }
    }

    /// The index collection of `companyID`'s embeddings of this model (dlib keeps the name it had before SFace).
    func collectionName(_ companyID: Int64) -> String {
        switch self {
        case .dlib: "company-\(companyID)"
        case .sface: "company-\(companyID)-\(rawValue)"
        }
    }

    static func named(_ text: String, field: String) throws(ServiceError) -> RecognitionModel {
        guard let model = RecognitionModel(rawValue: text) else {
            throw .invalidField(field, "expected " + allCases.map(\.rawValue).joined(separator: " or "))
        }
        return model
    }
}

/// The search decision presets; each model has its own values (`RecognitionModel.threshold(_:)`).
enum MatchPreset: String, CaseIterable, Sendable {
    /// Access control: a stranger is almost never let in; more people retry.
    case strict
    /// The default.
    case balanced
    /// A friendly time clock among known staff.
    case lenient

    /// The preset of `model` with this threshold and margin, else `custom`.
    static func named(threshold: Double, margin: Double, model: RecognitionModel) -> String {
        allCases.first { abs(model.threshold($0) - threshold) < 1e-9 && abs(model.margin($0) - margin) < 1e-9 }?.rawValue ?? "custom"
    }
}

/// Distance ↔ similarity, per model: a similarity is the chance that *one* comparison is the same person when same
/// and different are equally likely. Identification against many people needs far higher values (dlib's balanced
/// 0.50 is similarity 0.9966).
enum Similarity {
    static func of(distance: Double, model: RecognitionModel) -> Double {
        let fit = model.similarityFit
        return (tanh((fit.d0 - distance) * fit.k) + 1) / 2
    }

    /// The distance threshold of a `min_similarity`: a number in 0…1, or a percentage above 1 up to 100.
    static func distance(minimum: Double, model: RecognitionModel) throws(ServiceError) -> Double {
        guard minimum.isFinite, (0...100).contains(minimum) else {
            throw .invalidField("min_similarity", "expected 0…1 or a percentage up to 100")
        }
        let share = minimum > 1 ? minimum / 100 : minimum
        if share <= 0 { return 2 }  // anything
        if share >= 1 { return 0 }  // only an identical encoding
        let fit = model.similarityFit
        return max(0, fit.d0 - atanh(2 * share - 1) / fit.k)
    }
}
