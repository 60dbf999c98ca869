import Foundation

/// A company's own settings (`GET/PATCH /settings`), stored as JSON on its row.
///
/// Every field is optional in a PATCH; absent fields keep their value. Later issues add recognition
/// thresholds and retention here.
public struct CompanySettings: Codable, Sendable, Equatable {
    /// Lifetime of new session tokens, in minutes (5 … 43,200 = 30 days).
    public var tokenLifetimeMinutes: Int
    /// Authenticated requests per minute for the whole company (10 … the server's `rateLimit.companyPerMinute`).
    public var requestsPerMinute: Int

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
        return next
    }

    func encoded() -> String {
        String(data: try! JSONEncoder().encode(self), encoding: .utf8)!  // plain struct of integers
    }

    static func decode(_ text: String, fallback: CompanySettings) -> CompanySettings {
        (try? JSONDecoder().decode(CompanySettings.self, from: Data(text.utf8))) ?? fallback
    }
}
