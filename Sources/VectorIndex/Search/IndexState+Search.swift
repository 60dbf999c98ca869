import CVectorKernels
import Dispatch

extension IndexState {
    /// Searches the `k` nearest neighbours of `query` (`dimension` floats).
    /// - Parameter stored: reads an id's vector from the map (false when the id is gone); used for re-ranking when the
    ///   vectors are not kept in memory. An exact search then needs `keepsVectors` (the collection scans the map itself).
    /// - Complexity: flat: O(count × dimension); IVF: O(listCount × dimension + scanned vectors).
    func search(_ query: UnsafePointer<Float>, options: SearchOptions,
                stored: (UInt64, UnsafeMutablePointer<Float>) -> Bool = { _, _ in preconditionFailure("no map reader") }) -> [SearchResult] {
        let k = min(options.k, count)
        guard k > 0 else { return [] }
        let top: TopK
        if options.exact || lists.isEmpty {
            precondition(keepsVectors, "an exact search of vectors kept in the map is the collection's (scanMap)")
            top = exactSearch(query, k: k, allow: options.allow, threads: options.threads)
        } else if pq != nil {
            top = ivfPQSearch(query, k: k, probes: probes(query, options.probeCount),
                              rerank: max(options.rerankCount, k), allow: options.allow, stored: stored)
        } else {
            top = ivfFlatSearch(query, k: k, probes: probes(query, options.probeCount).lists, allow: options.allow)
        }
        return top.sorted().map { SearchResult(id: UInt64(bitPattern: $0.label), distance: $0.distance.squareRoot()) }
    }

    // MARK: - Exact

    private func exactSearch(_ query: UnsafePointer<Float>, k: Int, allow: (@Sendable (UInt64) -> Bool)?,
                             threads: Int) -> TopK {
        let n = count
        let parts = max(1, min(threads, n / 4096))
        if parts == 1 { return scanSlots(query, range: 0..<n, k: k, allow: allow) }
        let partial = UnsafeMutableBufferPointer<[(distance: Float, label: Int64)]>.allocate(capacity: parts)
        partial.initialize(repeating: [])
        defer { _ = partial.deinitialize(); partial.deallocate() }
        let chunk = (n + parts - 1) / parts
        // Each worker writes only its own element; the buffer outlives concurrentPerform.
        nonisolated(unsafe) let out = partial
        nonisolated(unsafe) let q = query
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let range = (p * chunk)..<min(n, (p + 1) * chunk)
            out[p] = self.scanSlots(q, range: range, k: k, allow: allow).sorted()
        }
        var merged = TopK(capacity: k)
        for part in partial {
            for (dist, label) in part { merged.insert(dist, label) }
        }
        return merged
    }

    private func scanSlots(_ query: UnsafePointer<Float>, range: Range<Int>, k: Int,
                           allow: (@Sendable (UInt64) -> Bool)?) -> TopK {
        var top = TopK(capacity: k)
        let d = dimension, chunk = 256
        withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { dist in
            vectors.withUnsafeBufferPointer { v in
                ids.withUnsafeBufferPointer { ids in
                    var start = range.lowerBound
                    while start < range.upperBound {
                        let n = min(chunk, range.upperBound - start)
                        Distance.squaredL2(query: query, vectors: v.baseAddress! + start * d, count: n, dimension: d,
                                           into: dist.baseAddress!)
                        var threshold = top.threshold
                        for i in 0..<n where dist[i] <= threshold {
                            let id = ids[start + i]
                            if allow?(id) ?? true {
                                top.insert(dist[i], Int64(bitPattern: id))
                                threshold = top.threshold
                            }
                        }
                        start += n
                    }
                }
            }
        }
        return top
    }

    // MARK: - IVF

    /// The `probeCount` lists whose centroids are nearest to `query`, nearest first, with their
    /// squared distances.
    private func probes(_ query: UnsafePointer<Float>, _ probeCount: Int) -> (lists: [Int], distances: [Float]) {
        let listCount = lists.count
        var top = TopK(capacity: min(max(1, probeCount), listCount))
        withUnsafeTemporaryAllocation(of: Float.self, capacity: listCount) { dist in
            centroids.withUnsafeBufferPointer { c in
                Distance.squaredL2(query: query, vectors: c.baseAddress!, count: listCount, dimension: dimension,
                                   into: dist.baseAddress!)
            }
            var threshold = top.threshold
            for l in 0..<listCount where dist[l] <= threshold {
                top.insert(dist[l], Int64(l))
                threshold = top.threshold
            }
        }
        let sorted = top.sorted()
        return (sorted.map { Int($0.label) }, sorted.map(\.distance))
    }

    private func ivfFlatSearch(_ query: UnsafePointer<Float>, k: Int, probes: [Int],
                               allow: (@Sendable (UInt64) -> Bool)?) -> TopK {
        var top = TopK(capacity: k)
        let d = dimension
        let longest = probes.map { Int(listCounts[$0]) }.max() ?? 0
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, longest)) { dist in
            vectors.withUnsafeBufferPointer { v in
                ids.withUnsafeBufferPointer { ids in
                    for l in probes {
                        lists[l].slots.withUnsafeBufferPointer { slots in
                            guard !slots.isEmpty else { return }
                            Distance.squaredL2(query: query, vectors: v.baseAddress!, slots: slots.baseAddress!,
                                               count: slots.count, dimension: d, into: dist.baseAddress!)
                            var threshold = top.threshold
                            for i in 0..<slots.count where dist[i] <= threshold {
                                let id = ids[Int(slots[i])]
                                if allow?(id) ?? true {
                                    top.insert(dist[i], Int64(bitPattern: id))
                                    threshold = top.threshold
                                }
                            }
                        }
                    }
                }
            }
        }
        return top
    }

    /// IVF-PQ: 8-bit lookup tables per probed list on one shared scale, fast-scan of the 4-bit
    /// codes keeping what beats the current `rerank`-th best approximate distance, then exact
    /// distances for those candidates.
    private func ivfPQSearch(_ query: UnsafePointer<Float>, k: Int, probes: (lists: [Int], distances: [Float]),
                             rerank: Int, allow: (@Sendable (UInt64) -> Bool)?,
                             stored: (UInt64, UnsafeMutablePointer<Float>) -> Bool) -> TopK {
        guard let pq else { return TopK(capacity: 0) }
        let d = dimension, m = pq.subquantizerCount, tableSize = m * 16
        let probeCount = probes.lists.count
        let tables = PQTables(pq: pq, query: query, centroids: centroids, probes: probes.lists, dimension: d)
        defer { tables.deallocate() }

        // Candidates are slots ordered by (approximate distance, id): the ids are read beside the slots in each list.
        var candidates = TopK(capacity: rerank)
        let longest = probes.lists.map { Int(listCounts[$0]) }.max() ?? 0
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: max(1, longest)) { positions in
            withUnsafeTemporaryAllocation(of: UInt16.self, capacity: max(1, longest)) { sums in
                lists.withUnsafeBufferPointer { lists in
                    for p in 0..<probeCount {
                        if p + 1 < probeCount {
                            let next = probes.lists[p + 1]
                            let bytes = min(2048, (Int(listCounts[next]) + 31) / 32 * tableSize)
                            lists[next].codes.withUnsafeBufferPointer { vk_prefetch($0.baseAddress, bytes) }
                        }
                        let list = probes.lists[p], n = Int(listCounts[list])
                        guard n > 0 else { continue }
                        // approx = bias + sum / scale beats the threshold T iff sum < (T − bias) × scale. What passes depends
                        // only on the candidates kept so far — the same on every copy, list after list.
                        let bias = tables.biases[p], scale = tables.scale
                        let limit = (candidates.threshold - bias) * scale
                        let threshold = limit >= 65535 ? UInt16.max : limit <= 0 ? 0 : UInt16(limit.rounded(.up))
                        guard threshold > 0 else { continue }
                        let kept = lists[list].codes.withUnsafeBufferPointer { codes in
                            vk_fastscan_collect(codes.baseAddress!, n, tables.bytes + p * tableSize, Int32(m),
                                                threshold, positions.baseAddress!, sums.baseAddress!)
                        }
                        guard kept > 0 else { continue }
                        lists[list].slots.withUnsafeBufferPointer { slots in
                            lists[list].ids.withUnsafeBufferPointer { ids in
                                for i in 0..<kept {
                                    let position = Int(positions[i])
                                    let id = ids[position]
                                    if allow?(id) ?? true {
                                        candidates.insert(bias + Float(sums[i]) / scale, Int64(slots[position]), key: id)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var top = TopK(capacity: k)
        let c = candidates.count
        if !keepsVectors {
            // Re-rank from the map: each candidate's vector read (and, when sealed, opened) by id.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: d) { v in
                for i in 0..<c {
                    let id = candidates.key(at: i)
                    guard stored(id, v.baseAddress!) else { continue }  // removed since the scan: not an answer
                    top.insert(Distance.squaredL2(query, v.baseAddress!, dimension: d), Int64(bitPattern: id))
                }
            }
            return top
        }
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(1, c)) { slots in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, c)) { dist in
                for i in 0..<c { slots[i] = Int32(truncatingIfNeeded: candidates.label(at: i)) }
                vectors.withUnsafeBufferPointer { v in
                    Distance.squaredL2(query: query, vectors: v.baseAddress!, slots: slots.baseAddress!, count: c,
                                       dimension: d, into: dist.baseAddress!)
                }
                for i in 0..<c { top.insert(dist[i], Int64(bitPattern: ids[Int(slots[i])])) }
            }
        }
        return top
    }
}

/// The lookup tables of one IVF-PQ query, built by `vk_pq_tables`: for each probed list, the
/// squared distances of the query's residual sub-vectors to the 16 centroids of each
/// subquantizer, less their minimum (summed into `biases`), quantized to bytes on one scale
/// shared by all lists so that sums from different lists compare. Computed in registers rather
/// than from FAISS-style precomputed per-list terms: those cost 16 MB at 4096 lists and their
/// reads made the tables memory-bound.
struct PQTables {
    /// Layout: (probeCount, subquantizerCount, 16).
    let bytes: UnsafeMutablePointer<UInt8>
    /// Per probed list: the sum of the per-subquantizer minima (a squared distance).
    let biases: UnsafeMutablePointer<Float>
    /// Table units per squared-distance unit.
    let scale: Float

    init(pq: ProductQuantizer, query: UnsafePointer<Float>, centroids: [Float], probes: [Int], dimension d: Int) {
        let m = pq.subquantizerCount, size = probes.count * m * 16
        let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(16, size))
        let biases = UnsafeMutablePointer<Float>.allocate(capacity: max(1, probes.count))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(16, size))
        defer { scratch.deallocate() }
        let lists = probes.map { Int64($0) }
        scale = centroids.withUnsafeBufferPointer { c in
            pq.codebooks.withUnsafeBufferPointer { cb in
                vk_pq_tables(query, c.baseAddress!, lists, lists.count, d, m, cb.baseAddress!, bytes, biases, scratch)
            }
        }
        self.bytes = bytes
        self.biases = biases
    }

    func deallocate() {
        bytes.deallocate()
        biases.deallocate()
    }
}
