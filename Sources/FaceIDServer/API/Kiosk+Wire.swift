import CompressNIO
import Foundation
import Hummingbird

/// `{"face_encoding": "[0.1, …]" | [0.1, …], "registered_at"?: RFC 3339}`.
struct KioskFaceBody {
    /// Exactly as sent: stored as float64 and returned unchanged.
    var encoding: [Double]
    var registeredAt: Date?

    private struct Wire: Decodable {
        var faceEncoding: EncodingValue?
        var registeredAt: TimeValue?
    }

    /// RFC 3339 text, or Unix seconds as a number or text.
    private enum TimeValue: Decodable {
        case text(String)
        case seconds(Double)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let seconds = try? container.decode(Double.self) {
                self = .seconds(seconds)
            } else {
                self = .text(try container.decode(String.self))
            }
        }

        var date: Date? {
            switch self {
            case .text(let text): Timestamp.parse(text)
            case .seconds(let seconds): seconds.isFinite ? Date(timeIntervalSince1970: seconds) : nil
            }
        }
    }

    /// The JSON string of an array, or the array itself.
    private enum EncodingValue: Decodable {
        case text(String)
        case numbers([Double])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .numbers(try container.decode([Double].self))
            }
        }
    }

    /// Any malformed body, and any encoding other than exactly 128 finite numbers, is the contract's one 400.
    static func decode(_ data: Data) throws(ServiceError) -> KioskFaceBody {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let wire = try? decoder.decode(Wire.self, from: data), let value = wire.faceEncoding else { throw .invalidFaceEncoding }
        var registeredAt: Date?
        if let value = wire.registeredAt {
            // Within 2000…3000: anything else is a kiosk clock gone wrong (and would not fit the store's milliseconds).
            guard let date = value.date, (946_684_800...32_503_680_000).contains(date.timeIntervalSince1970) else {
                throw .invalidField("registered_at", "expected an RFC 3339 time or Unix seconds, between 2000 and 3000")
            }
            registeredAt = date
        }
        let numbers: [Double]
        switch value {
        case .numbers(let array):
            numbers = array
        case .text(let text):
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.hasPrefix("["), trimmed.hasSuffix("]") else { throw .invalidFaceEncoding }
            var parsed: [Double] = []
            for part in trimmed.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false) {
                guard let number = Double(part.trimmingCharacters(in: .whitespaces)) else { throw .invalidFaceEncoding }
                parsed.append(number)
            }
            numbers = parsed
        }
        // Exactly 128 finite numbers within the bound every encoding has (a huge one would overflow distances).
        guard numbers.count == FaceEncoding.dimension, numbers.allSatisfy({ $0.isFinite && abs($0) < 1e6 }) else { throw .invalidFaceEncoding }
        return KioskFaceBody(encoding: numbers, registeredAt: registeredAt)
    }
}

struct KioskFaceRegistered: ResponseEncodable, Sendable {
    var success = true
    var employeeId: Int64
    var registeredAt: String
    var message = "Face encoding registered successfully"
}

struct KioskFaceDeleted: ResponseEncodable, Sendable {
    var success = true
    var employeeId: Int64
    var message = "Face encoding deleted successfully"
}

struct AckRequest: Decodable {
    var cursor: String
}

struct AckResponse: ResponseEncodable, Sendable {
    var success = true
    var deviceId: Int64
    var ackedCursor: String
    var ackedAt: String
}

struct LatestChange: Encodable, Sendable {
    var cursor: String
    /// Nil when the change is older than the feed's retention (its row was purged).
    var at: String?
}

struct DevicePropagation: Encodable, Sendable {
    var id: Int64
    var name: String
    var location: String
    var ackedCursor: String?
    var ackedAt: String?
    var applied: Bool
}

struct PropagationResponse: ResponseEncodable, Sendable {
    var success = true
    var employeeId: Int64
    /// `face_registered`, `no_face` or `deleted`.
    var state: String
    var latestChange: LatestChange
    var devices: [DevicePropagation]
    var applied: [Int64]
    var pending: [Int64]
}

/// A response body written in parts, gzip-compressed as it goes (fastest level) when the client accepts it.
struct StreamedJSON {
    private let compressor: (any NIOCompressor)?

    /// Starts a gzip stream when `gzip`; otherwise bytes pass through as they are.
    init(gzip: Bool) throws {
        guard gzip else {
            compressor = nil
            return
        }
        let compressor = CompressionAlgorithm.gzip(configuration: .init(compressionLevel: .fastestCompression)).compressor
        compressor.window = ByteBufferAllocator().buffer(capacity: 64 << 10)
        try compressor.startStream()
        self.compressor = compressor
    }

    /// Writes `bytes`; `last` ends the compressed stream.
    func write(_ bytes: [UInt8], last: Bool, to writer: inout any ResponseBodyWriter) async throws {
        var buffer = ByteBuffer(bytes: bytes)
        guard let compressor else {
            try await writer.write(buffer)
            return
        }
        try await buffer.compressStream(with: compressor, flush: last ? .finish : .no) { try await writer.write($0) }
        if last { try compressor.finishStream() }
    }
}
