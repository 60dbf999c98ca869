import Foundation

/// The 128-d dlib face encoding as it is validated, stored and sealed.
enum FaceEncoding {
    static let dimension = 128
    static let modelID = "dlib-resnet-v1"

    /// 400 `invalid_field` unless exactly 128 finite numbers.
    static func validate(_ values: [Double], field: String) throws(ServiceError) -> [Float] {
        guard values.count == dimension else { throw .invalidField(field, "expected exactly \(dimension) numbers, got \(values.count)") }
        guard values.allSatisfy({ $0.isFinite && abs($0) < 1e6 }) else { throw .invalidField(field, "every number must be finite") }
        return values.map { Float($0) }
    }

    /// 400 `invalid_field` unless a unit vector (within 1e-3): SFace embeddings are L2-normalised, and its distances and
    /// thresholds assume it.
    static func validateUnit(_ values: [Float], field: String) throws(ServiceError) -> [Float] {
        let norm = values.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        guard abs(norm - 1) <= 1e-3 else { throw .invalidField(field, "an sface-2021dec embedding is L2-normalised (length 1), got \(norm)") }
        return values
    }

    /// float32 little-endian (photo enrollments and imports: what the index holds).
    static func bytes(_ encoding: [Float]) -> Data {
        var data = Data(capacity: encoding.count * 4)
        for value in encoding { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// float64 little-endian: a kiosk's encoding kept exactly as the kiosk sent it (`face_recognition` computes float64).
    static func bytes(_ encoding: [Double]) -> Data {
        var data = Data(capacity: encoding.count * 8)
        for value in encoding { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// The stored values, from either layout (128 float32 or 128 float64), exactly; nil for any other length.
    static func doubles(_ data: Data) -> [Double]? {
        data.withUnsafeBytes { raw -> [Double]? in
            switch raw.count {
            case dimension * 4:
                (0..<dimension).map { Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))) }
            case dimension * 8:
                (0..<dimension).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
            default:
                nil
            }
        }
    }

    /// The stored values as float32, what the index and the distance kernels use.
    static func floats(_ data: Data) -> [Float]? {
        doubles(data).map { $0.map(Float.init) }
    }
}
