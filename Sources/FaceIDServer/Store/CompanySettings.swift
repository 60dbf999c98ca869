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
    /// Search: the named decision rule (`strict`, `balanced`, `lenient`), or `custom` once the threshold or margin is set.
    public var matchPreset: String = MatchPreset.balanced.rawValue
    /// Search: the largest distance that can be a match (0.2 … 0.8; default 0.5, "balanced").
    public var matchThreshold: Double = Self.defaultMatchThreshold
    /// Search: how much closer the best person must be than the best other person for `match` (0 … 0.3).
    public var matchMargin: Double = Self.defaultMatchMargin
    /// Enrollment: keep the photo, sealed with the company key, readable by admins (`GET /faces/{id}/image`).
    public var storeImages: Bool = false
    /// Enrollment: a face of another person this close is a duplicate (0 … 0.8).
    public var duplicateDistance: Double = Self.defaultDuplicateDistance
    /// Access-log entries older than this many days are purged (1 … 3650).
    public var logRetentionDays: Int = Self.defaultLogRetentionDays

    static let defaultMatchThreshold = MatchPreset.balanced.threshold
    static let defaultMatchMargin = MatchPreset.balanced.margin
    static let defaultDuplicateDistance = 0.45
    static let defaultLogRetentionDays = 365

    init(tokenLifetimeMinutes: Int, requestsPerMinute: Int) {
        self.tokenLifetimeMinutes = tokenLifetimeMinutes
        self.requestsPerMinute = requestsPerMinute
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tokenLifetimeMinutes = try container.decode(Int.self, forKey: .tokenLifetimeMinutes)
        requestsPerMinute = try container.decode(Int.self, forKey: .requestsPerMinute)
        matchThreshold = try container.decodeIfPresent(Double.self, forKey: .matchThreshold) ?? Self.defaultMatchThreshold
        matchMargin = try container.decodeIfPresent(Double.self, forKey: .matchMargin) ?? Self.defaultMatchMargin
        matchPreset = try container.decodeIfPresent(String.self, forKey: .matchPreset)
            ?? MatchPreset.named(threshold: matchThreshold, margin: matchMargin)
        storeImages = try container.decodeIfPresent(Bool.self, forKey: .storeImages) ?? false
        duplicateDistance = try container.decodeIfPresent(Double.self, forKey: .duplicateDistance) ?? Self.defaultDuplicateDistance
        logRetentionDays = try container.decodeIfPresent(Int.self, forKey: .logRetentionDays) ?? Self.defaultLogRetentionDays
    }

    static func defaults(_ configuration: ServerConfiguration) -> CompanySettings {
        CompanySettings(
            tokenLifetimeMinutes: configuration.tokenLifetime / 60,
            requestsPerMinute: configuration.rateLimits.companyPerMinute
        )
    }

    /// A partial update.
    struct Patch: Decodable {
        var tokenLifetimeMinutes: Int?
        var requestsPerMinute: Int?
        var matchPreset: String?
        var matchThreshold: Double?
        var matchMargin: Double?
        var duplicateDistance: Double?
        var logRetentionDays: Int?
        var storeImages: Bool?
    }

    /// Applies `patch`, checking each range; 400 `invalid_field` names the first bad field.
    func applying(_ patch: Patch, serverMaximumPerMinute: Int) throws(APIError) -> CompanySettings {
        var next = self
        if let minutes = patch.tokenLifetimeMinutes {
            guard (5...43_200).contains(minutes) else { throw .invalidField("token_lifetime_minutes", "expected 5…43200") }
            next.tokenLifetimeMinutes = minutes
        }
        if let perMinute = patch.requestsPerMinute {
            guard (10...serverMaximumPerMinute).contains(perMinute) else {
                throw .invalidField("requests_per_minute", "expected 10…\(serverMaximumPerMinute)")
            }
            next.requestsPerMinute = perMinute
        }
        if let name = patch.matchPreset {
            guard let preset = MatchPreset(rawValue: name) else {
                throw .invalidField("match_preset", "expected " + MatchPreset.allCases.map(\.rawValue).joined(separator: ", "))
            }
            (next.matchPreset, next.matchThreshold, next.matchMargin) = (preset.rawValue, preset.threshold, preset.margin)
        }
        if let value = patch.matchThreshold {
            guard (0.2...0.8).contains(value) else { throw .invalidField("match_threshold", "expected 0.2…0.8") }
            next.matchThreshold = value
        }
        if let value = patch.matchMargin {
            guard (0...0.3).contains(value) else { throw .invalidField("match_margin", "expected 0…0.3") }
            next.matchMargin = value
        }
        if patch.matchThreshold != nil || patch.matchMargin != nil {
            next.matchPreset = MatchPreset.named(threshold: next.matchThreshold, margin: next.matchMargin)
        }
        if let value = patch.storeImages { next.storeImages = value }
        if let value = patch.duplicateDistance {
            guard (0...0.8).contains(value) else { throw .invalidField("duplicate_distance", "expected 0…0.8") }
            next.duplicateDistance = value
        }
        if let days = patch.logRetentionDays {
            guard (1...3650).contains(days) else { throw .invalidField("log_retention_days", "expected 1…3650") }
            next.logRetentionDays = days
        }
        return next
    }

    func encoded() -> String {
        String(data: try! JSONEncoder().encode(self), encoding: .utf8)!  // plain struct of numbers
    }

    static func decode(_ text: String, fallback: CompanySettings) -> CompanySettings {
        (try? JSONDecoder().decode(CompanySettings.self, from: Data(text.utf8))) ?? fallback
    }
}

/// The search decision presets. Measured on LFW's open-set protocol (1,680 enrolled identities, 4,069 strangers;
/// `faceid-bench accuracy`, README "Thresholds and presets"): strangers accepted as someone 0.2 % / 4.5 % / 10.9 %,
/// known people matched 42 % / 77 % / 82 % (LFW's uncontrolled photos; kiosk captures do far better).
enum MatchPreset: String, CaseIterable, Sendable {
    /// Access control: a stranger is almost never let in; more people retry.
    case strict
    /// The default.
    case balanced
    /// A friendly time clock among known staff.
    case lenient

    var threshold: Double {
        switch self {
        case .strict: 0.42
        case .balanced: 0.50
        case .lenient: 0.55
        }
    }

    var margin: Double {
        switch self {
        case .strict: 0.06
        case .balanced, .lenient: 0.04
        }
    }

    /// The preset with this threshold and margin, else `custom`.
    static func named(threshold: Double, margin: Double) -> String {
        allCases.first { abs($0.threshold - threshold) < 1e-9 && abs($0.margin - margin) < 1e-9 }?.rawValue ?? "custom"
    }
}

/// Distance ↔ similarity: a logistic fit of P(same person | distance) on LFW's balanced pairs.txt
/// (5,937 pairs with both faces detected; `faceid-bench accuracy` prints the fit and its check), in the form
/// similarity = (tanh((d0 − distance) · k) + 1) / 2. A similarity is the chance that *one* comparison is the
/// same person when same and different are equally likely — identification against many people needs far
/// higher values (the balanced preset's 0.50 is similarity 0.9966).
enum Similarity {
    static let d0 = 0.6258
    static let k = 22.55

    static func of(distance: Double) -> Double { (tanh((d0 - distance) * k) + 1) / 2 }

    /// The distance threshold of a `min_similarity`: a number in 0…1, or a percentage above 1 up to 100.
    static func distance(minimum: Double) throws(APIError) -> Double {
        guard minimum.isFinite, (0...100).contains(minimum) else {
            throw .invalidField("min_similarity", "expected 0…1 or a percentage up to 100")
        }
        let share = minimum > 1 ? minimum / 100 : minimum
        if share <= 0 { return 2 }  // anything
        if share >= 1 { return 0 }  // only an identical encoding
        return max(0, d0 - atanh(2 * share - 1) / k)
    }
}
