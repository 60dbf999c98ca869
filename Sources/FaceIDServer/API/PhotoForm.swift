import Foundation
import Hummingbird
import MultipartKit

/// The photo endpoints accept JSON (`image` as base64) or `multipart/form-data` (an `image` file part plus
/// fields). A form is turned into the same JSON object and decoded by the same type, so both spellings share
/// one validation path and one set of errors.
enum PhotoForm {
    /// How form fields map to JSON types; every other field is a string.
    private static let numbers: Set<String> = ["person_id", "top_k", "max_distance", "min_similarity"]
    private static let booleans: Set<String> = ["reference", "allow_duplicate"]
    private static let arrays: Set<String> = ["tags", "groups"]
    private static let objects: Set<String> = ["metadata"]

    /// Decodes `type` from the body, JSON or multipart.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws(ServiceError) -> T {
        guard let contentType = request.headers[.contentType], contentType.lowercased().hasPrefix("multipart/form-data") else {
            return try await request.decodeJSON(type, limit: limit)
        }
        guard let boundary = boundary(in: contentType) else {
            throw ServiceError.invalidMultipart("multipart/form-data without a boundary")
        }
        let data = try await request.bodyData(limit: limit)
        let json = try object(from: try parts(data, boundary: boundary))
        guard let encoded = try? JSONSerialization.data(withJSONObject: json) else { throw ServiceError.invalidJSON("form fields") }
        return try APIJSON.decode(type, from: encoded)
    }

    static func boundary(in contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return value.isEmpty ? nil : value
            }
        }
        return nil
    }

    /// The parts of a body: (name, bytes), in order.
    static func parts(_ data: Data, boundary: String) throws(ServiceError) -> [(String, Data)] {
        guard headerNamesAreASCII(data, boundary: boundary) else {
            throw ServiceError.invalidMultipart("The multipart body cannot be parsed",
                           detail: "a part's header name is not ASCII")
        }
        let parser = MultipartParser(boundary: boundary)
        var parts: [(String, Data)] = []
        var name: String?
        var body = Data()
        parser.onHeader = { field, value in
            guard field.lowercased() == "content-disposition" else { return }
            for parameter in value.split(separator: ";") {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0].lowercased() == "name" {
                    name = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }
            }
        }
        parser.onBody = { buffer in body.append(contentsOf: buffer.readableBytesView) }
        parser.onPartComplete = {
            if let name { parts.append((name, body)) }
            name = nil
            body = Data()
        }
        do {
            try parser.execute([UInt8](data))
        } catch {
            throw ServiceError.invalidMultipart("The multipart body cannot be parsed")
        }
        return parts
    }

    /// Whether the boundary and the header names of every part are ASCII: MultipartKit 4.7 traps (index out of range
    /// in `isAllowedHeaderFieldNameCharacter`) on a header-name byte of 0x80 or more instead of throwing, so such a
    /// body must not reach it. Checks, after each `--boundary`, the lines up to the blank line (or the next
    /// delimiter), each up to its `:`.
    ///
    /// - Complexity: O(n), n the body's length (each byte is searched a bounded number of times).
    static func headerNamesAreASCII(_ data: Data, boundary: String) -> Bool {
        guard boundary.utf8.allSatisfy({ $0 < 0x80 }) else { return false }
        let delimiter = Data(("--" + boundary).utf8)
        let blankLine = Data("\r\n\r\n".utf8)
        var next = data.range(of: delimiter)
        while let found = next {
            next = data.range(of: delimiter, in: found.upperBound..<data.endIndex)
            let limit = next?.lowerBound ?? data.endIndex
            let headersEnd = data.range(of: blankLine, in: found.upperBound..<limit)?.lowerBound ?? limit
            for line in data[found.upperBound..<headersEnd].split(separator: UInt8(ascii: "\n")) {
                guard line.prefix(while: { $0 != UInt8(ascii: ":") }).allSatisfy({ $0 < 0x80 }) else { return false }
            }
        }
        return true
    }

    /// The JSON object a form stands for: `image` base64, typed fields, repeated or JSON-array `tags`/`groups`.
    static func object(from parts: [(String, Data)]) throws(ServiceError) -> [String: Any] {
        var object: [String: Any] = [:]
        for (name, data) in parts {
            if name == "image" {
                object[name] = data.base64EncodedString()
                continue
            }
            let text = String(decoding: data, as: UTF8.self)
            if numbers.contains(name) {
                guard let number = Double(text.trimmingCharacters(in: .whitespaces)) else { throw ServiceError.invalidField(name, "expected a number") }
                object[name] = number.rounded() == number && abs(number) < 1e15 ? Int64(number) as Any : number as Any
            } else if booleans.contains(name) {
                guard let value = ["true": true, "1": true, "false": false, "0": false][text.lowercased()] else {
                    throw ServiceError.invalidField(name, "expected true or false")
                }
                object[name] = value
            } else if arrays.contains(name) {
                var values = object[name] as? [String] ?? []
                if text.hasPrefix("["), let array = (try? JSONSerialization.jsonObject(with: data)) as? [String] {
                    values += array
                } else {
                    values.append(text)
                }
                object[name] = values
            } else if objects.contains(name) {
                guard let value = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                    throw ServiceError.invalidField(name, "expected a JSON object")
                }
                object[name] = value
            } else {
                object[name] = text
            }
        }
        return object
    }
}
