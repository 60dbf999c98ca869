import Crypto
import Foundation

/// Making and recognising secrets: session tokens and API keys.
///
/// Both are 32 random bytes (base64url) — far beyond guessing — so a SHA-256 of the whole secret is
/// what the store keeps and looks up; bcrypt is for low-entropy passwords only.
enum Credentials {
    /// Session tokens start with this, API keys with `apiKeyPrefix`: secret scanners can spot a leak.
    static let sessionPrefix = "fids_"
    static let apiKeyPrefix = "fid_"

    /// A new session token.
    static func newSessionToken() -> String {
        sessionPrefix + randomBase64URL(byteCount: 32)
    }

    /// A new API key: `fid_<8-char id>_<secret>`, and its displayable prefix `fid_<8-char id>`.
    static func newAPIKey() -> (key: String, prefix: String) {
        var generator = SystemRandomNumberGenerator()
        let prefix = apiKeyPrefix + (0..<4).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        return (prefix + "_" + randomBase64URL(byteCount: 32), prefix)
    }

    static func hash(_ secret: String) -> Data {
        Data(SHA256.hash(data: Data(secret.utf8)))
    }

    static func randomBase64URL(byteCount: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
