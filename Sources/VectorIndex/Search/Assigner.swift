/// Computes the inverted list and PQ code of vectors about to be added, from a trained model.
struct Assigner {
    let dimension: Int
    let centroids: [Float]
    let pq: ProductQuantizer?
    var listCount: Int { centroids.count / dimension }
    var codeSize: Int { pq?.subquantizerCount ?? 0 }

    /// Assigns `count` contiguous vectors.
    /// - Returns: one list per vector and the codes, layout (count, subquantizerCount).
    /// - Complexity: O(count × listCount × dimension), in `sgemm` for batches.
    func assign(_ vectors: UnsafeBufferPointer<Float>, count: Int) -> (lists: [UInt32], codes: [UInt8]) {
        guard listCount > 0 else {
            return ([UInt32](repeating: CollectionStorage.flatList, count: count), [])
        }
        var lists = [Int32](repeating: 0, count: count)
        centroids.withUnsafeBufferPointer { c in
            lists.withUnsafeMutableBufferPointer { out in
                if count >= 16 {
                    KMeans.assign(vectors.baseAddress!, count: count, centroids: c.baseAddress!, k: listCount,
                                  dimension: dimension, into: out.baseAddress!, distances: nil)
                } else {
                    for i in 0..<count {
                        out[i] = Int32(Self.nearest(vectors.baseAddress! + i * dimension, c.baseAddress!,
                                                    listCount: listCount, dimension: dimension))
                    }
                }
            }
        }
        var codes = [UInt8](repeating: 0, count: count * codeSize)
        if let pq {
            var residual = [Float](repeating: 0, count: dimension)
            codes.withUnsafeMutableBufferPointer { out in
                for i in 0..<count {
                    let l = Int(lists[i])
                    for j in 0..<dimension { residual[j] = vectors[i * dimension + j] - centroids[l * dimension + j] }
                    residual.withUnsafeBufferPointer { pq.encode($0.baseAddress!, into: out.baseAddress! + i * codeSize) }
                }
            }
        }
        return (lists.map { UInt32($0) }, codes)
    }

    static func nearest(_ v: UnsafePointer<Float>, _ centroids: UnsafePointer<Float>, listCount: Int, dimension: Int) -> Int {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: listCount) { dist in
            Distance.squaredL2(query: v, vectors: centroids, count: listCount, dimension: dimension, into: dist.baseAddress!)
            var best = Float.infinity, bestIndex = 0
            for c in 0..<listCount where dist[c] < best {
                best = dist[c]
                bestIndex = c
            }
            return bestIndex
        }
    }
}
