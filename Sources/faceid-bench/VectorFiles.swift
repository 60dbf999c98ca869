import Foundation

/// Readers and writers for the TEXMEX formats: each vector is a little-endian Int32 dimension
/// followed by that many Float32 (`.fvecs`) or Int32 (`.ivecs`) values.
enum VectorFiles {
    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads up to `limit` vectors. - Returns: (flat values, dimension).
    static func readFvecs(_ path: String, limit: Int = .max) throws -> (values: [Float], dimension: Int) {
        let (raw, d) = try readVecs(path, limit: limit)
        return (raw.map { Float(bitPattern: $0) }, d)
    }

    static func readIvecs(_ path: String, limit: Int = .max) throws -> (values: [Int32], dimension: Int) {
        let (raw, d) = try readVecs(path, limit: limit)
        return (raw.map { Int32(bitPattern: $0) }, d)
    }

    private static func readVecs(_ path: String, limit: Int) throws -> ([UInt32], Int) {
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(description: "cannot read \(path)") }
        guard data.count >= 4 else { throw FormatError(description: "\(path) is empty") }
        return try data.withUnsafeBytes { raw -> ([UInt32], Int) in
            let d = Int(Int32(littleEndian: raw.loadUnaligned(as: Int32.self)))
            let record = 4 + 4 * d
            guard d > 0, data.count % record == 0 else { throw FormatError(description: "\(path): not a .fvecs/.ivecs file") }
            let n = min(limit, data.count / record)
            var out = [UInt32](repeating: 0, count: n * d)
            for i in 0..<n {
                for j in 0..<d {
                    out[i * d + j] = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * record + 4 + 4 * j, as: UInt32.self))
                }
            }
            return (out, d)
        }
    }

    static func writeIvecs(_ path: String, _ values: [Int32], dimension: Int) throws {
        var data = Data(capacity: values.count / dimension * (4 + 4 * dimension))
        for i in 0..<(values.count / dimension) {
            withUnsafeBytes(of: Int32(dimension).littleEndian) { data.append(contentsOf: $0) }
            for j in 0..<dimension { withUnsafeBytes(of: values[i * dimension + j].littleEndian) { data.append(contentsOf: $0) } }
        }
        try data.write(to: URL(fileURLWithPath: path))
    }
}
