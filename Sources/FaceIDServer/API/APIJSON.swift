import Foundation
import Hummingbird

/// The wire format: JSON with snake_case keys, and the error mapping for bodies a client got wrong.
public enum APIJSON {
    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// Decodes `type` from `data`; any `DecodingError` becomes a 400 naming the field (in snake_case).
    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(ServiceError) -> T {
        do {
            return try makeDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw map(error)
        } catch {
            throw ServiceError.invalidJSON(nil)
        }
    }

    static func map(_ error: DecodingError) -> ServiceError {
        func field(_ path: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
            let parts = (path + (key.map { [$0] } ?? [])).map { key in
                key.intValue.map { "[\($0)]" } ?? snakeCase(key.stringValue)
            }
            return parts.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .missingField(field(context.codingPath, key))
        case .valueNotFound(_, let context):
            return .missingField(field(context.codingPath))
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty { return .invalidJSON("expected \(describe(type)) at the top level") }
            return .invalidField(field(context.codingPath), "expected \(describe(type))")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return .invalidJSON(nil) }
            return .invalidField(field(context.codingPath), context.debugDescription)
        @unknown default:
            return .invalidJSON(nil)
        }
    }

    static func snakeCase(_ name: String) -> String {
        var result = ""
        for character in name {
            if character.isUppercase {
                if !result.isEmpty { result.append("_") }
                result.append(contentsOf: character.lowercased())
            } else {
                result.append(character)
            }
        }
        return result
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        default: String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }

    /// Hummingbird's request decoder for this API (used by `request.decode`).
    public struct Decoder: RequestDecoder {
        public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
            throw ServiceError.serverFault("use Request.decodeJSON, which enforces the configured body limit")
        }
    }

    /// Hummingbird's response encoder for this API.
    public struct Encoder: ResponseEncoder {
        public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
            let data = try makeEncoder().encode(value)
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: data))
            )
        }
    }
}

extension Request {
    /// Collects at most `limit` bytes of body (413 beyond) and decodes JSON (400 naming the field on a mistake).
    func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int) async throws(ServiceError) -> T {
        if let contentType = headers[.contentType], !contentType.lowercased().contains("json") {
            throw ServiceError.unsupportedMediaType
        }
        let data = try await bodyData(limit: limit)
        if data.isEmpty { throw ServiceError.invalidJSON("empty body") }
        return try APIJSON.decode(type, from: data)
    }

    /// The whole body, at most `limit` bytes.
    func bodyData(limit: Int) async throws(ServiceError) -> Data {
        do {
            let buffer = try await self.body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch {
            throw ServiceError.bodyTooLarge(limit: limit)
        }
    }

    /// The `limit` of a paginated list: `Limits.listPage`, default `Limits.listPageDefault` (400 `invalid_query` otherwise).
    func pageLimit() throws(ServiceError) -> Int {
        try query("limit", in: Limits.listPage) ?? Limits.listPageDefault
    }

    /// An optional boolean query parameter: `true`/`1` or `false`/`0` (any case); 400 `invalid_query` otherwise.
    func queryFlag(_ name: String) throws(ServiceError) -> Bool? {
        try query(name, expected: "true or false") { ["true": true, "1": true, "false": false, "0": false][$0.lowercased()] }
    }

    /// An optional integer query parameter within `range`; 400 `invalid_query` naming the range otherwise.
    func query(_ name: String, in range: ClosedRange<Int>) throws(ServiceError) -> Int? {
        try query(name, expected: "an integer in \(range.lowerBound)…\(range.upperBound)") { Int($0).flatMap { range.contains($0) ? $0 : nil } }
    }

    /// An optional query parameter that must be one of `values`.
    func query(_ name: String, oneOf values: [String]) throws(ServiceError) -> String? {
        try query(name, expected: "one of " + values.joined(separator: ", ")) { values.contains($0) ? $0 : nil }
    }

    /// An optional time: RFC 3339 or Unix seconds.
    func queryTime(_ name: String) throws(ServiceError) -> Date? {
        try query(name, expected: "an RFC 3339 time or Unix seconds", Timestamp.parse)
    }

    /// An optional id or id cursor.
    func queryID(_ name: String) throws(ServiceError) -> Int64? {
        try query(name, expected: "an integer") { Int64($0) }
    }

    /// An optional query parameter parsed by `parse`; 400 `invalid_query` saying what was `expected` when it does not parse.
    func query<T>(_ name: String, expected: String, _ parse: (String) -> T?) throws(ServiceError) -> T? {
        guard let text = uri.queryParameters[Substring(name)] else { return nil }
        guard let value = parse(String(text)) else { throw ServiceError.invalidQuery(name, "expected \(expected), got '\(text)'") }
        return value
    }

    /// An optional free-text query parameter.
    func query(_ name: String) -> String? {
        uri.queryParameters[Substring(name)].map(String.init)
    }
}

/// A JSON response with a status other than 200.
struct Created<Value: Encodable & Sendable>: ResponseGenerator {
    var status: HTTPResponse.Status = .created
    var value: Value

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try APIJSON.Encoder().encode(value, from: request, context: context)
        response.status = status
        return response
    }
}

/// Formats instants the way every response does: UTC, microseconds, `Z` (`2025-01-13T10:30:45.123456Z`).
enum Timestamp {
    /// A stored `Date` (the store keeps milliseconds, rounded): a value formats the same before and after a round trip.
    static func format(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        return format(micros: millis * 1000)
    }

    static func format(micros: Int64) -> String {
        var seconds = time_t(micros.quotient(dividingBy: 1_000_000))
        let fraction = micros - Int64(seconds) * 1_000_000
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(fraction))
    }

    /// Parses RFC 3339 (with or without fractional seconds) or integer Unix seconds.
    static func parse(_ text: String) -> Date? {
        if let seconds = Int64(text) { return Date(timeIntervalSince1970: TimeInterval(seconds)) }
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: text) { return date }
        return ISO8601DateFormatter().date(from: text)
    }
}

extension Int64 {
    /// Floor division (so pre-1970 instants format correctly).
    fileprivate func quotient(dividingBy divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor < 0) ? q - 1 : q
    }
}

/// Cursor pagination: a full page has a next page, named by the id of its last row.
enum Page {
    static func nextCursor(count: Int, limit: Int, lastID: Int64?) -> String? {
        count == limit ? lastID.map(String.init) : nil
    }
}
