import Crypto
import Foundation

/// The 32-byte key that wraps every company's data key (envelope encryption).
///
/// It never touches the store: it comes from configuration (`crypto.masterKey` or `crypto.masterKeyFile`).
/// Make one with `head -c 32 /dev/urandom | base64 > data/master.key` (`make run` does this on first start).
public struct MasterKey: Sendable {
    let key: SymmetricKey

    /// Decodes base64 (44 characters) or hex (64 characters) of exactly 32 bytes.
    public init(encoded text: String, source: String) throws(ConfigurationError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var bytes: [UInt8]?
        if trimmed.count == 64, trimmed.allSatisfy(\.isHexDigit) {
            bytes = stride(from: 0, to: 64, by: 2).map { offset in
                let start = trimmed.index(trimmed.startIndex, offsetBy: offset)
                return UInt8(trimmed[start..<trimmed.index(start, offsetBy: 2)], radix: 16)!
            }
        } else if let data = Data(base64Encoded: trimmed) {
            bytes = [UInt8](data)
        }
        guard let bytes, bytes.count == 32 else {
            throw ConfigurationError(key: source, message: "the master key must be 32 bytes, base64 or hex encoded")
        }
        key = SymmetricKey(data: bytes)
    }

    /// A fresh random key (tests).
    public static func random() -> MasterKey {
        let text = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        return try! MasterKey(encoded: text, source: "random")  // 32 random bytes always decode
    }
}
