/// Seeded Lloyd k-means with the assignment step on BLAS `sgemm`.
///
/// Initialisation: `k` distinct training points chosen uniformly at random from the seeded
/// generator (FAISS's default; k-means++ costs k sequential passes over the sample, far more
/// than the iterations themselves at k = 4096). An empty cluster takes over half of the largest
/// cluster: it copies that centroid and both are nudged apart by a relative ε, as FAISS does.
struct KMeans {
    var k: Int
    var dimension: Int
    var iterations = 10
    var seed: UInt64 = 1234

    /// Trains on `count` contiguous vectors and returns the centroids.
    /// - Returns: layout (k, dimension).
    /// - Complexity: O(iterations × count × k × dimension), in `sgemm`.
    func train(_ data: UnsafeBufferPointer<Float>, count: Int) -> [Float] {
        precondition(count >= k && k > 0)
        var rng = SeededGenerator(seed: seed)
        var indices = Array(0..<count)
        for i in 0..<k {
            let j = Int.random(in: i..<count, using: &rng)
            indices.swapAt(i, j)
        }
        var centroids = [Float](repeating: 0, count: k * dimension)
        for c in 0..<k {
            let src = indices[c] * dimension
            for j in 0..<dimension { centroids[c * dimension + j] = data[src + j] }
        }
        var assignment = [Int32](repeating: 0, count: count)
        for _ in 0..<iterations {
            centroids.withUnsafeBufferPointer { cent in
                assignment.withUnsafeMutableBufferPointer { assign in
                    KMeans.assign(data.baseAddress!, count: count, centroids: cent.baseAddress!, k: k,
                                  dimension: dimension, into: assign.baseAddress!, distances: nil)
                }
            }
            update(&centroids, data: data, count: count, assignment: assignment, rng: &rng)
        }
        return centroids
    }

    private func update(_ centroids: inout [Float], data: UnsafeBufferPointer<Float>, count: Int,
                        assignment: [Int32], rng: inout SeededGenerator) {
        var sums = [Double](repeating: 0, count: k * dimension)
        var sizes = [Int](repeating: 0, count: k)
        for i in 0..<count {
            let c = Int(assignment[i])
            sizes[c] += 1
            let base = c * dimension, src = i * dimension
            for j in 0..<dimension { sums[base + j] += Double(data[src + j]) }
        }
        for c in 0..<k where sizes[c] > 0 {
            let inv = 1.0 / Double(sizes[c])
            for j in 0..<dimension { centroids[c * dimension + j] = Float(sums[c * dimension + j] * inv) }
        }
        // Split the largest clusters into the empty ones.
        let epsilon: Float = 1.0 / 1024
        for c in 0..<k where sizes[c] == 0 {
            let big = sizes.indices.max { sizes[$0] < sizes[$1] }!
            for j in 0..<dimension {
                let v = centroids[big * dimension + j]
                let sign: Float = (rng.next() & 1) == 0 ? 1 : -1
                centroids[c * dimension + j] = v * (1 + sign * epsilon)
                centroids[big * dimension + j] = v * (1 - sign * epsilon)
            }
            sizes[c] = sizes[big] / 2
            sizes[big] -= sizes[c]
        }
    }

    /// Nearest centroid of each of `count` vectors (ties to the lower index).
    /// - Parameter distances: when given, receives each vector's squared distance to its centroid.
    /// - Complexity: O(count × k × dimension) in `sgemm`, in row chunks bounded to ~16 MB.
    static func assign(_ data: UnsafePointer<Float>, count: Int, centroids: UnsafePointer<Float>, k: Int,
                       dimension: Int, into out: UnsafeMutablePointer<Int32>,
                       distances: UnsafeMutablePointer<Float>?) {
        var centroidNorms = [Float](repeating: 0, count: k)
        for c in 0..<k { centroidNorms[c] = Distance.squaredNorm(centroids + c * dimension, dimension: dimension) }
        let chunk = max(1, min(count, (4 << 20) / k))
        var products = [Float](repeating: 0, count: chunk * k)
        products.withUnsafeMutableBufferPointer { prod in
            var start = 0
            while start < count {
                let rows = min(chunk, count - start)
                BLAS.multiplyTransposed(data + start * dimension, rows: rows, centroids, rows: k,
                                        dimension: dimension, into: prod.baseAddress!)
                for r in 0..<rows {
                    let row = prod.baseAddress! + r * k
                    var best = Float.infinity, bestIndex = 0
                    for c in 0..<k {
                        let d = centroidNorms[c] - 2 * row[c]
                        if d < best { best = d; bestIndex = c }
                    }
                    out[start + r] = Int32(bestIndex)
                    if let distances {
                        let x = data + (start + r) * dimension
                        distances[start + r] = max(0, best + Distance.squaredNorm(x, dimension: dimension))
                    }
                }
                start += rows
            }
        }
    }
}
