import CVectorKernels
import Dispatch

extension IndexState {
    /// Searches the `k` nearest neighbours of `query` (`dimension` floats).
    /// - Complexity: flat: O(count × dimension); IVF: O(listCount × dimension + scanned vectors).
    func search(_ query: UnsafePointer<Float>, options: SearchOptions) -> [SearchResult] {
        let k = min(options.k, count)
        guard k > 0 else { return [] }
        var top: TopK
        switch kind {
        case _ where options.exact || lists.isEmpty:
            top = exactSearch(query, k: k, allow: options.allow, threads: options.threads)
        case .ivfFlat:
            top = ivfFlatSearch(query, k: k, probes: probes(query, options.probeCount), allow: options.allow)
        case .ivfPQ:
            top = ivfPQSearch(query, k: k, probes: probes(query, options.probeCount),
                              rerank: max(options.rerankCount, k), allow: options.allow)
        case .flat:
            top = exactSearch(query, k: k, allow: options.allow, threads: options.threads)
        }
        return top.sorted().map { SearchResult(id: UInt64(bitPattern: $0.label), distance: $0.distance.squareRoot()) }
    }

    // MARK: - Exact

    private func exactSearch(_ query: UnsafePointer<Float>, k: Int, allow: (@Sendable (UInt64) -> Bool)?,
                             threads: Int) -> TopK {
        let n = count, d = dimension
        let parts = max(1, min(threads, n / 4096))
        if parts == 1 { return scanSlots(query, range: 0..<n, k: k, allow: allow) }
        let heaps = UnsafeMutableBufferPointer<TopK>.allocate(capacity: parts)
        defer { heaps.deallocate() }
        let chunk = (n + parts - 1) / parts
        nonisolated(unsafe) let out = heaps
        nonisolated(unsafe) let q = query
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let range = (p * chunk)..<min(n, (p + 1) * chunk)
            (out.baseAddress! + p).initialize(to: self.scanSlots(q, range: range, k: k, allow: allow))
        }
        var merged = TopK(capacity: k)
        for h in heaps {
            for (dist, label) in h.sorted() { merged.insert(dist, label) }
        }
        _ = d
        heaps.baseAddress!.deinitialize(count: parts)
        return merged
    }

    private func scanSlots(_ query: UnsafePointer<Float>, range: Range<Int>, k: Int,
                           allow: (@Sendable (UInt64) -> Bool)?) -> TopK {
        var top = TopK(capacity: k)
        let d = dimension
        vectors.withUnsafeBufferPointer { v in
            ids.withUnsafeBufferPointer { ids in
                for slot in range {
                    let dist = Distance.squaredL2(query, v.baseAddress! + slot * d, dimension: d)
                    if dist < top.threshold, allow?(ids[slot]) ?? true {
                        top.insert(dist, Int64(bitPattern: ids[slot]))
                    }
                }
            }
        }
        return top
    }

    // MARK: - IVF

    /// The `probeCount` lists whose centroids are nearest to `query`.
    private func probes(_ query: UnsafePointer<Float>, _ probeCount: Int) -> [Int] {
        let listCount = lists.count
        var top = TopK(capacity: min(max(1, probeCount), listCount))
        centroids.withUnsafeBufferPointer { c in
            for l in 0..<listCount {
                let dist = Distance.squaredL2(query, c.baseAddress! + l * dimension, dimension: dimension)
                if dist < top.threshold { top.insert(dist, Int64(l)) }
            }
        }
        return top.sorted().map { Int($0.label) }
    }

    private func ivfFlatSearch(_ query: UnsafePointer<Float>, k: Int, probes: [Int],
                               allow: (@Sendable (UInt64) -> Bool)?) -> TopK {
        var top = TopK(capacity: k)
        let d = dimension
        vectors.withUnsafeBufferPointer { v in
            for l in probes {
                lists[l].slots.withUnsafeBufferPointer { slots in
                    for s in slots {
                        let slot = Int(s)
                        let dist = Distance.squaredL2(query, v.baseAddress! + slot * d, dimension: d)
                        if dist < top.threshold, allow?(ids[slot]) ?? true {
                            top.insert(dist, Int64(bitPattern: ids[slot]))
                        }
                    }
                }
            }
        }
        return top
    }

    /// IVF-PQ: 8-bit lookup tables per probed list on one shared scale, fast-scan of the 4-bit
    /// codes, the `rerank` best approximate candidates kept, then exact distances for those.
    private func ivfPQSearch(_ query: UnsafePointer<Float>, k: Int, probes: [Int], rerank: Int,
                             allow: (@Sendable (UInt64) -> Bool)?) -> TopK {
        guard let pq else { return TopK(capacity: 0) }
        let d = dimension, m = pq.subquantizerCount, tableSize = m * 16
        let probeCount = probes.count
        // Layout: (probeCount, subquantizerCount, 16).
        var floatTables = [Float](repeating: 0, count: probeCount * tableSize)
        var biases = [Float](repeating: 0, count: probeCount)
        var maxRange: Float = 0
        withUnsafeTemporaryAllocation(of: Float.self, capacity: d) { residual in
            centroids.withUnsafeBufferPointer { c in
                floatTables.withUnsafeMutableBufferPointer { tables in
                    for (p, l) in probes.enumerated() {
                        for j in 0..<d { residual[j] = query[j] - c[l * d + j] }
                        let table = tables.baseAddress! + p * tableSize
                        pq.distanceTable(residual.baseAddress!, into: table)
                        var bias: Float = 0
                        for q in 0..<m {
                            let row = UnsafeRawPointer(table + q * 16).loadUnaligned(as: SIMD16<Float>.self)
                            let lo = row.min()
                            bias += lo
                            maxRange = max(maxRange, row.max() - lo)
                            UnsafeMutableRawPointer(table + q * 16).storeBytes(of: row - lo, as: SIMD16<Float>.self)
                        }
                        biases[p] = bias
                    }
                }
            }
        }
        let scale: Float = maxRange > 0 ? 255 / maxRange : 1
        let byteTables = floatTables.map { UInt8(min(255, ($0 * scale).rounded())) }
        let inverseScale = 1 / scale

        var candidates = TopK(capacity: rerank)
        let maxBlocks = probes.map { (lists[$0].count + 31) / 32 }.max() ?? 0
        var sums = [UInt16](repeating: 0, count: maxBlocks * 32)
        byteTables.withUnsafeBufferPointer { tables in
            sums.withUnsafeMutableBufferPointer { out in
                for (p, l) in probes.enumerated() {
                    let list = lists[l]
                    let n = list.count
                    guard n > 0 else { continue }
                    list.codes.withUnsafeBufferPointer { codes in
                        vk_fastscan_u16(codes.baseAddress!, (n + 31) / 32, tables.baseAddress! + p * tableSize,
                                        Int32(m), out.baseAddress!)
                    }
                    let bias = biases[p]
                    list.slots.withUnsafeBufferPointer { slots in
                        for i in 0..<n {
                            let approx = bias + Float(out[i]) * inverseScale
                            if approx < candidates.threshold {
                                let slot = slots[i]
                                if allow?(ids[Int(slot)]) ?? true { candidates.insert(approx, Int64(slot)) }
                            }
                        }
                    }
                }
            }
        }
        var top = TopK(capacity: k)
        vectors.withUnsafeBufferPointer { v in
            for c in 0..<candidates.count {
                let slot = Int(candidates.labels[c])
                let dist = Distance.squaredL2(query, v.baseAddress! + slot * d, dimension: d)
                top.insert(dist, Int64(bitPattern: ids[slot]))
            }
        }
        return top
    }
}
