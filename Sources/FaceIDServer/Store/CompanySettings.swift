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
    /// Search: the largest distance that can be a match (0.2 … 0.8; default 0.5, "balanced").
    public var matchThreshold: Double = Self.defaultMatchThreshold
    /// Search: how much closer the best person must be than the best other person for `match` (0 … 0.3).
    public var matchMargin: Double = Self.defaultMatchMargin
    /// Enrollment: a face of another person this close is a duplicate (0 … 0.8).
    public var duplicateDistance: Double = Self.defaultDuplicateDistance
    /// Access-log entries older than this many days are purged (1 … 3650).
    public var logRetentionDays: Int = Self.defaultLogRetentionDays

    static let defaultMatchThreshold = 0.5
    static let defaultMatchMargin = 0.04
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
        var matchThreshold: Double?
        var matchMargin: Double?
        var duplicateDistance: Double?
        var logRetentionDays: Int?
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
        if let value = patch.matchThreshold {
            guard (0.2...0.8).contains(value) else { throw .invalidField("match_threshold", "expected 0.2…0.8") }
            next.matchThreshold = value
        }
        if let value = patch.matchMargin {
            guard (0...0.3).contains(value) else { throw .invalidField("match_margin", "expected 0…0.3") }
            next.matchMargin = value
        }
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
