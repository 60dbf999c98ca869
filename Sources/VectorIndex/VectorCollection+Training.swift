import Foundation

extension VectorCollection {
    /// Converts the collection to `kind` (or retrains it): k-means on a seeded sample for the
    /// coarse quantizer, PQ codebooks on residuals, then every vector is assigned and encoded and
    /// the whole model is written in one LMDB transaction. Searches keep answering from the old
    /// index until the new one is swapped in; mutations wait.
    /// - Parameters:
    ///   - threads: OpenBLAS threads for the k-means and assignment steps.
    /// - Throws: `invalidArgument` when the collection holds fewer vectors than lists.
    /// - Complexity: O(iterations × sample × listCount × dimension + count × listCount × dimension).
    public func train(kind: IndexKind, parameters: TrainingParameters = TrainingParameters()) throws(VectorIndexError) {
        writer.lock()
        defer { writer.unlock() }
        try checkNotDropped()
        try trainLocked(kind: kind, parameters: parameters)
    }

    func trainLocked(kind: IndexKind, parameters: TrainingParameters) throws(VectorIndexError) {
        let seed = parameters.seed, threads = parameters.threads
        try kind.validate(dimension: dimension)
        let n = state.count, d = dimension
        let listCount = kind.listCount
        if kind == .flat {
            try rebuild(kind: kind, centroids: [], pq: nil)
            return
        }
        guard n >= listCount else {
            throw .invalidArgument("\(n) vectors cannot train \(listCount) lists")
        }
        var rng = SeededGenerator(seed: seed)
        let sample = Self.sample(n, min(n, listCount * parameters.samplesPerList), &rng)
        let sampled = gather(sample)
        let centroids = BLAS.withThreads(threads) {
            sampled.withUnsafeBufferPointer {
                KMeans(k: listCount, dimension: d, iterations: parameters.iterations, seed: seed).train($0, count: sample.count)
            }
        }
        var pq: ProductQuantizer?
        if case let .ivfPQ(_, m, _) = kind {
            let pqSample = Array(sample.prefix(parameters.pqSampleCount))
            let vectors = gather(pqSample)
            var assignment = [Int32](repeating: 0, count: pqSample.count)
            vectors.withUnsafeBufferPointer { v in
                centroids.withUnsafeBufferPointer { c in
                    assignment.withUnsafeMutableBufferPointer { a in
                        KMeans.assign(v.baseAddress!, count: pqSample.count, centroids: c.baseAddress!, k: listCount,
                                      dimension: d, into: a.baseAddress!, distances: nil)
                    }
                }
            }
            var residuals = vectors
            for i in 0..<pqSample.count {
                let l = Int(assignment[i])
                for j in 0..<d { residuals[i * d + j] -= centroids[l * d + j] }
            }
            pq = ProductQuantizer.train(residuals: residuals, count: pqSample.count, dimension: d,
                                        subquantizerCount: m, seed: seed)
        }
        try BLAS.withThreads(threads) { () throws(VectorIndexError) in
            try rebuild(kind: kind, centroids: centroids, pq: pq)
        }
    }

    /// Assigns and encodes every vector with the new model, persists it, and swaps it in.
    private func rebuild(kind: IndexKind, centroids: [Float], pq: ProductQuantizer?) throws(VectorIndexError) {
        let n = state.count, d = dimension
        let assigner = Assigner(dimension: d, centroids: centroids, pq: pq)
        let (lists, codes) = state.vectors.withUnsafeBufferPointer { assigner.assign($0, count: n) }
        let codeSize = assigner.codeSize
        let entry = Catalog.Entry(dimension: d, kind: kind, trainingPolicy: policy)
        try environment.write { (txn) throws(VectorIndexError) in
            try catalog.put(txn, name: name, entry: entry)
            try storage.putFloats(txn, "centroids", centroids)
            try storage.putFloats(txn, "codebooks", pq?.codebooks ?? [])
            for slot in 0..<n {
                try storage.putRecord(txn, id: state.ids[slot], list: lists[slot],
                                      code: codes[(slot * codeSize)..<((slot + 1) * codeSize)],
                                      vector: state.vectors[(slot * d)..<((slot + 1) * d)])
            }
        }
        let listCount = kind.listCount
        var newLists = [InvertedList](repeating: InvertedList(), count: listCount)
        var positions = [UInt32](repeating: 0, count: n)
        codes.withUnsafeBufferPointer { c in
            for slot in 0..<n where listCount > 0 {
                let l = Int(lists[slot])
                positions[slot] = UInt32(newLists[l].count)
                newLists[l].append(slot: Int32(slot), code: UnsafeBufferPointer(rebasing: c[(slot * codeSize)..<((slot + 1) * codeSize)]))
            }
        }
        stateLock.withWriteLock {
            state.kind = kind
            state.centroids = centroids
            state.pq = pq
            state.setLists(newLists)
            state.listOf = lists
            state.positionInList = positions
        }
    }

    private func gather(_ slots: [Int]) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(slots.count * dimension)
        for s in slots { out.append(contentsOf: state.vectors[(s * dimension)..<((s + 1) * dimension)]) }
        return out
    }

    /// `k` distinct indices of `0..<n`, seeded.
    static func sample(_ n: Int, _ k: Int, _ rng: inout SeededGenerator) -> [Int] {
        if k >= n { return Array(0..<n) }
        var indices = Array(0..<n)
        for i in 0..<k { indices.swapAt(i, Int.random(in: i..<n, using: &rng)) }
        return Array(indices.prefix(k))
    }
}
