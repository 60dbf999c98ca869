/// A product quantizer with 16 centroids per subquantizer (4-bit codes), trained on IVF
/// residuals. Codes are scanned with in-register lookup tables (`vk_fastscan_u16`).
struct ProductQuantizer: Sendable {
    static let centroidCount = 16

    let dimension: Int
    /// FAISS `M`: how many sub-vectors each vector is cut into.
    let subquantizerCount: Int
    var subDimension: Int { dimension / subquantizerCount }
    /// Layout: (subquantizerCount, subDimension, 16) — transposed so that one `SIMD16<Float>`
    /// holds one coordinate of all 16 centroids of a subquantizer.
    var codebooks: [Float]

    init(dimension: Int, subquantizerCount: Int, codebooks: [Float]) {
        self.dimension = dimension
        self.subquantizerCount = subquantizerCount
        self.codebooks = codebooks
    }

    /// Trains one 16-centroid k-means per subquantizer on `count` residual vectors.
    static func train(residuals: [Float], count: Int, dimension: Int, subquantizerCount: Int,
                      seed: UInt64) -> ProductQuantizer {
        let ds = dimension / subquantizerCount
        var codebooks = [Float](repeating: 0, count: subquantizerCount * ds * centroidCount)
        var sub = [Float](repeating: 0, count: count * ds)
        for m in 0..<subquantizerCount {
            for i in 0..<count {
                for s in 0..<ds { sub[i * ds + s] = residuals[i * dimension + m * ds + s] }
            }
            let kmeans = KMeans(k: centroidCount, dimension: ds, iterations: 25, seed: seed &+ UInt64(m))
            let centroids = sub.withUnsafeBufferPointer { kmeans.train($0, count: count) }
            for j in 0..<centroidCount {
                for s in 0..<ds { codebooks[(m * ds + s) * centroidCount + j] = centroids[j * ds + s] }
            }
        }
        return ProductQuantizer(dimension: dimension, subquantizerCount: subquantizerCount, codebooks: codebooks)
    }

    /// The float distance table of `target` (a query minus a list centroid).
    /// - Parameter out: layout (subquantizerCount, 16): squared distance of each sub-vector of
    ///   `target` to each centroid.
    @inline(__always)
    func distanceTable(_ target: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let ds = subDimension
        codebooks.withUnsafeBufferPointer { cb in
            let raw = UnsafeRawPointer(cb.baseAddress!)
            for m in 0..<subquantizerCount {
                var acc = SIMD16<Float>()
                for s in 0..<ds {
                    let c = raw.loadUnaligned(fromByteOffset: (m * ds + s) * 16 * 4, as: SIMD16<Float>.self)
                    let d = SIMD16<Float>(repeating: target[m * ds + s]) - c
                    acc += d * d
                }
                UnsafeMutableRawPointer(out + m * 16).storeBytes(of: acc, as: SIMD16<Float>.self)
            }
        }
    }

    /// Encodes `residual` into one code (0..<16) per subquantizer, written to `codes`.
    func encode(_ residual: UnsafePointer<Float>, into codes: UnsafeMutablePointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: subquantizerCount * 16) { table in
            distanceTable(residual, into: table.baseAddress!)
            for m in 0..<subquantizerCount {
                var best = Float.infinity, bestIndex = 0
                for j in 0..<16 where table[m * 16 + j] < best {
                    best = table[m * 16 + j]
                    bestIndex = j
                }
                codes[m] = UInt8(bestIndex)
            }
        }
    }
}
