import Foundation

/// A company's own settings (`GET/PATCH /settings`), stored as JSON on its row.
///
/// Every field is optional in a PATCH; absent fields keep their value. A stored row written before a
/// field existed reads that field's default.
public struct CompanySettings: Codable, Sendable, Equatable {
    /// Lifetime of new session tokens, in minutes (5 … 43,200 = 30 days).
    public var tokenLifetimeMinutes: Int
    /// Authenticated requests per minute for the whole company (10 … the server's `rateLimit.companyPerMinute`).
    public var requestsPerMinute: Int
    /// Photo search, verification and the duplicate guard use this model's embeddings (`recognition_model`). Rows
    /// written before SFace read `dlib-resnet-v1`; new companies get `RecognitionModel.defaultForNewCompanies`.
    public var recognitionModel: String = RecognitionModel.dlib.rawValue
    /// Search: the named decision rule (`strict`, `balanced`, `lenient`), or `custom` once the threshold or margin is set.
    public var matchPreset: String = MatchPreset.balanced.rawValue
    /// Search: the largest distance that can be a match, in the model's units (dlib 0.2 … 0.8, balanced 0.50;
    /// SFace 0.6 … 1.3, balanced 1.02).
    public var matchThreshold: Double = Self.defaultMatchThreshold
    /// Search: how much closer the best person must be than the best other person for `match` (0 … 0.3).
    public var matchMargin: Double = Self.defaultMatchMargin
    /// Enrollment: keep the photo, sealed with the company key, readable by admins (`GET /faces/{id}/image`).
    public var storeImages: Bool = false
    /// Enrollment: a face of another person this close is a duplicate (dlib 0 … 0.8, default 0.45; SFace 0 … 1.2, 0.90).
    public var duplicateDistance: Double = Self.defaultDuplicateDistance
    /// Access-log entries older than this many days are purged (1 … 3650).
    public var logRetentionDays: Int = Self.defaultLogRetentionDays
    /// Enrollment, imports and kiosk uploads refuse a person without a recorded consent (409 `consent_required`).
    public var requireConsent: Bool = false
    /// A person's faces are destroyed after this many days without an interaction — an enrollment, a kiosk upload or a
    /// search that matched them (1 … 1,095: BIPA §15(a)'s three years is the ceiling).
    public var biometricRetentionDays: Int = Self.maximumBiometricRetentionDays

    static let maximumBiometricRetentionDays = 1095

    static let defaultMatchThreshold = RecognitionModel.dlib.threshold(.balanced)
    static let defaultMatchMargin = RecognitionModel.dlib.margin(.balanced)
    static let defaultDuplicateDistance = RecognitionModel.dlib.defaultDuplicateDistance
    static let defaultLogRetentionDays = 365

    init(tokenLifetimeMinutes: Int, requestsPerMinute: Int) {
        self.tokenLifetimeMinutes = tokenLifetimeMinutes
        self.requestsPerMinute = requestsPerMinute
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tokenLifetimeMinutes = try container.decode(Int.self, forKey: .tokenLifetimeMinutes)
        requestsPerMinute = try container.decode(Int.self, forKey: .requestsPerMinute)
        recognitionModel = try container.decodeIfPresent(String.self, forKey: .recognitionModel) ?? RecognitionModel.dlib.rawValue
        matchThreshold = try container.decodeIfPresent(Double.self, forKey: .matchThreshold) ?? Self.defaultMatchThreshold
        matchMargin = try container.decodeIfPresent(Double.self, forKey: .matchMargin) ?? Self.defaultMatchMargin
        matchPreset = try container.decodeIfPresent(String.self, forKey: .matchPreset)
            ?? MatchPreset.named(threshold: matchThreshold, margin: matchMargin, model: model)
        storeImages = try container.decodeIfPresent(Bool.self, forKey: .storeImages) ?? false
        duplicateDistance = try container.decodeIfPresent(Double.self, forKey: .duplicateDistance) ?? Self.defaultDuplicateDistance
        logRetentionDays = try container.decodeIfPresent(Int.self, forKey: .logRetentionDays) ?? Self.defaultLogRetentionDays
        requireConsent = try container.decodeIfPresent(Bool.self, forKey: .requireConsent) ?? false
        biometricRetentionDays = try container.decodeIfPresent(Int.self, forKey: .biometricRetentionDays) ?? Self.maximumBiometricRetentionDays
    }

    /// The model the company's photo search uses (an unknown stored name reads as dlib, the kiosks' model).
    var model: RecognitionModel { RecognitionModel(rawValue: recognitionModel) ?? .dlib }

    /// A new company's settings: the server's limits, and `RecognitionModel.defaultForNewCompanies` with its balanced preset.
    static func defaults(_ configuration: ServerConfiguration) -> CompanySettings {
        var settings = CompanySettings(
            tokenLifetimeMinutes: configuration.tokenLifetime / 60,
            requestsPerMinute: configuration.rateLimits.companyPerMinute
        )
        settings.switchModel(to: configuration.defaultRecognitionModel)
        return settings
    }

    /// Uses `model`: the same named preset in the new model's units (a custom threshold becomes `balanced`), and the
    /// new model's duplicate distance.
    mutating func switchModel(to model: RecognitionModel) {
        let preset = MatchPreset(rawValue: matchPreset) ?? .balanced
        recognitionModel = model.rawValue
        (matchPreset, matchThreshold, matchMargin) = (preset.rawValue, model.threshold(preset), model.margin(preset))
        duplicateDistance = model.defaultDuplicateDistance
    }

    /// A partial update.
    struct Patch: Decodable {
        var tokenLifetimeMinutes: Int?
        var requestsPerMinute: Int?
        var recognitionModel: String?
        var matchPreset: String?
        var matchThreshold: Double?
        var matchMargin: Double?
        var duplicateDistance: Double?
        var logRetentionDays: Int?
        var storeImages: Bool?
        var requireConsent: Bool?
        var biometricRetentionDays: Int?
    }

    /// Applies `patch`, checking each range; 400 `invalid_field` names the first bad field.
    func applying(_ patch: Patch, serverMaximumPerMinute: Int) throws(ServiceError) -> CompanySettings {
        var next = self
        if let minutes = patch.tokenLifetimeMinutes {
            next.tokenLifetimeMinutes = try Self.check(minutes, in: 5...43_200, "token_lifetime_minutes")
        }
        if let perMinute = patch.requestsPerMinute {
            next.requestsPerMinute = try Self.check(perMinute, in: 10...serverMaximumPerMinute, "requests_per_minute")
        }
        if let name = patch.recognitionModel {
            let model = try RecognitionModel.named(name, field: "recognition_model")
            if model != next.model { next.switchModel(to: model) }
        }
        let model = next.model
        if let name = patch.matchPreset {
            guard let preset = MatchPreset(rawValue: name) else {
                throw .invalidField("match_preset", "expected " + MatchPreset.allCases.map(\.rawValue).joined(separator: ", "))
            }
            (next.matchPreset, next.matchThreshold, next.matchMargin) = (preset.rawValue, model.threshold(preset), model.margin(preset))
        }
        if let value = patch.matchThreshold {
            next.matchThreshold = try Self.check(value, in: model.thresholdRange, "match_threshold", for: model)
        }
        if let value = patch.matchMargin { next.matchMargin = try Self.check(value, in: 0...0.3, "match_margin") }
        if patch.matchThreshold != nil || patch.matchMargin != nil {
            next.matchPreset = MatchPreset.named(threshold: next.matchThreshold, margin: next.matchMargin, model: model)
        }
        if let value = patch.storeImages { next.storeImages = value }
        if let value = patch.duplicateDistance {
            next.duplicateDistance = try Self.check(value, in: model.duplicateRange, "duplicate_distance", for: model)
        }
        if let days = patch.logRetentionDays { next.logRetentionDays = try Self.check(days, in: 1...3650, "log_retention_days") }
        if let value = patch.requireConsent { next.requireConsent = value }
        if let days = patch.biometricRetentionDays {
            next.biometricRetentionDays = try Self.check(days, in: 1...Self.maximumBiometricRetentionDays, "biometric_retention_days")
        }
        return next
    }

    /// `value` when `range` holds it; else 400 `invalid_field` naming `field`, the range and (for a model's units) the model.
    private static func check<T: Comparable>(_ value: T, in range: ClosedRange<T>, _ field: String,
                                             for model: RecognitionModel? = nil) throws(ServiceError) -> T {
        guard range.contains(value) else {
            throw .invalidField(field, "expected \(range.lowerBound)…\(range.upperBound)" + (model.map { " for \($0.rawValue)" } ?? ""))
        }
        return value
    }

    func encoded() -> String {
        String(data: try! JSONEncoder().encode(self), encoding: .utf8)!  // plain struct of numbers
    }

    /// The settings as the API names them (`match_threshold`, snake_case, sorted keys), for the audit log; the row keeps
    /// `encoded()`.
    func auditText() -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try! encoder.encode(self), as: UTF8.self)  // plain struct of numbers
    }

    static func decode(_ text: String, fallback: CompanySettings) -> CompanySettings {
        (try? JSONDecoder().decode(CompanySettings.self, from: Data(text.utf8))) ?? fallback
    }
}
