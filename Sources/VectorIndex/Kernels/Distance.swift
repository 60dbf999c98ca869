import CVectorKernels

/// Distance kernels over `Float` vectors. The many-vector kernels are C with AVX2+FMA
/// intrinsics chosen at run time (with prefetching for gathered slots); `squaredNorm` is a
/// `SIMD8<Float>` loop. All distances are **squared** L2 unless the name says otherwise.
enum Distance {
    /// Squared L2 distance between two vectors of `dimension` floats (C kernel: AVX2+FMA when
    /// the CPU has them, a portable loop otherwise).
    /// - Warning: both pointers must address at least `dimension` floats.
    @inline(__always)
    static func squaredL2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, dimension: Int) -> Float {
        vk_l2sqr(a, b, dimension)
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
    @inline(__always)
    static func squaredL2(query: UnsafePointer<Float>, vectors: UnsafePointer<Float>, count: Int,
                          dimension: Int, into out: UnsafeMutablePointer<Float>) {
        vk_l2sqr_ny(query, vectors, count, dimension, out)
    }

    /// Squared L2 distances from `query` to the vectors at `slots` of `vectors`.
    /// - Complexity: O(count × dimension).
    @inline(__always)
    static func squaredL2(query: UnsafePointer<Float>, vectors: UnsafePointer<Float>, slots: UnsafePointer<Int32>,
                          count: Int, dimension: Int, into out: UnsafeMutablePointer<Float>) {
        vk_l2sqr_gather(query, vectors, slots, count, dimension, out)
    }
}
