import Foundation

/// Input checks of the API's fields; each failure names its field.
enum Validate {
    static func name(_ text: String, field: String, maximum: Int = 200) throws(ServiceError) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .invalidField(field, "must not be empty") }
        guard trimmed.count <= maximum else { throw .invalidField(field, "at most \(maximum) characters") }
        return trimmed
    }

    static func optionalName(_ text: String?, field: String) throws(ServiceError) -> String? {
        guard let text, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return nil }
        return try name(text, field: field)
    }

    static func email(_ text: String) throws(ServiceError) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              trimmed.count <= 254, !trimmed.contains(where: \.isWhitespace) else {
            throw .invalidField("email", "expected an email address")
        }
        return trimmed
    }

    static func password(_ text: String) throws(ServiceError) {
        guard text.count >= Limits.passwordLength.lowerBound else { throw .weakPassword(minimum: Limits.passwordLength.lowerBound) }
        // bcrypt reads at most 72 bytes; longer passwords would be silently truncated.
        guard text.utf8.count <= Limits.passwordLength.upperBound else {
            throw .invalidField("password", "at most \(Limits.passwordLength.upperBound) bytes")
        }
    }

    /// Trimmed, at most 100 characters; empty means none.
    static func externalID(_ text: String?) throws(ServiceError) -> String? {
        guard let text else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count <= 100 else { throw .invalidField("external_id", "at most 100 characters") }
        return trimmed.isEmpty ? nil : trimmed
    }

    static func tags(_ tags: [String]) throws(ServiceError) -> [String] {
        guard tags.count <= 50 else { throw .invalidField("tags", "at most 50 tags") }
        var result: [String] = []
        for tag in tags { result.append(try Validate.name(tag, field: "tags", maximum: 64)) }
        return result
    }

    static func metadata(_ metadata: [String: JSONValue]) throws(ServiceError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(metadata) else { throw .invalidField("metadata", "not encodable") }
        guard data.count <= Limits.metadataBytes else { throw .invalidField("metadata", "at most \(Limits.metadataBytes) bytes") }
        return String(decoding: data, as: UTF8.self)
    }
}
