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
        try kind.validate(dimension: dimension)
        if kind == .flat {
            try rebuild(kind: kind, centroids: [], pq: nil, watermark: nil)
            return
        }
        let (sampled, count) = try sampleForTraining(kind: kind, parameters: parameters)
        let model = try BLAS.withThreads(parameters.threads) { () throws(VectorIndexError) in
            try Self.makeModel(kind: kind, dimension: dimension, sampled: sampled, count: count, parameters: parameters)
        }
        try BLAS.withThreads(parameters.threads) { () throws(VectorIndexError) in
            try rebuild(kind: kind, centroids: model.centroids, pq: model.productQuantizer, watermark: nil)
        }
    }

    /// Trains a model of `kind` on a seeded sample of the collection without installing it: the sample is copied under
    /// the read lock, and the k-means runs while searches and mutations go on. Another collection (another node's copy)
    /// can install the result.
    /// - Throws: `invalidArgument` for a flat kind, or when the collection holds fewer vectors than lists.
    public func trainModel(kind: IndexKind, parameters: TrainingParameters = TrainingParameters()) throws(VectorIndexError) -> TrainedModel {
        try kind.validate(dimension: dimension)
        guard kind != .flat else { throw .invalidArgument("a flat index has no model") }
        let (sampled, count) = try stateLock.withReadLock { () throws(VectorIndexError) in
            try sampleForTraining(kind: kind, parameters: parameters)
        }
        return try BLAS.withThreads(parameters.threads) { () throws(VectorIndexError) in
            try Self.makeModel(kind: kind, dimension: dimension, sampled: sampled, count: count, parameters: parameters)
        }
    }

    /// Makes the collection an index of `model`'s kind with `model`'s centroids and codebooks: every vector is assigned and
    /// encoded, and the model, the records and (when given) `watermark` are written in one LMDB transaction. Installing the
    /// model the collection already has is a rebuild with the same result.
    /// - Throws: `invalidArgument` when the model's dimension is not the collection's.
    public func install(_ model: TrainedModel, watermark: UInt64? = nil, threads: Int = 1) throws(VectorIndexError) {
        guard model.dimension == dimension else { throw .dimensionMismatch(expected: dimension, got: model.dimension) }
        writer.lock()
        defer { writer.unlock() }
        try checkNotDropped()
        try BLAS.withThreads(threads) { () throws(VectorIndexError) in
            try rebuild(kind: model.kind, centroids: model.centroids, pq: model.productQuantizer, watermark: watermark)
        }
    }

    /// The installed model; nil while the collection is flat.
    public var model: TrainedModel? {
        stateLock.withReadLock {
            guard state.kind != .flat else { return nil }
            return try? TrainedModel(kind: state.kind, dimension: dimension, centroids: state.centroids,
                                     codebooks: state.pq?.codebooks ?? [])
        }
    }

    /// Sets (or, with nil, clears) the policy under which the collection trains itself; persisted. A collection whose model
    /// is trained elsewhere and installed has none.
    public func setTrainingPolicy(_ policy: TrainingPolicy?) throws(VectorIndexError) {
        if let policy { try policy.kind.validate(dimension: dimension) }
        writer.lock()
        defer { writer.unlock() }
        try checkNotDropped()
        guard policy != self.policy else { return }
        let entry = Catalog.Entry(dimension: dimension, kind: kind, trainingPolicy: policy)
        try environment.write { (txn) throws(VectorIndexError) in try catalog.put(txn, name: name, entry: entry) }
        self.policy = policy
    }

    /// The seeded training sample (callers hold the writer or the read lock) and its size.
    private func sampleForTraining(kind: IndexKind, parameters: TrainingParameters) throws(VectorIndexError) -> ([Float], Int) {
        let n = state.count
        guard n >= kind.listCount else {
            throw .invalidArgument("\(n) vectors cannot train \(kind.listCount) lists")
        }
        var rng = SeededGenerator(seed: parameters.seed)
        // Drawn from the ids in order, not from the slots: two copies holding the same vectors train the same model
        // however their slots came to be ordered (mutation history, a reopen from list blocks).
        let ids = state.ids.sorted()
        let sample = Self.sample(n, min(n, kind.listCount * parameters.samplesPerList), &rng)
        return (try gather(sample.map { Int(state.slotOf[ids[$0]]!) }), sample.count)
    }

    /// k-means on the sample for the coarse quantizer, then (IVF-PQ) PQ codebooks on the residuals of its first
    /// `pqSampleCount` vectors.
    private static func makeModel(kind: IndexKind, dimension d: Int, sampled: [Float], count: Int,
                                  parameters: TrainingParameters) throws(VectorIndexError) -> TrainedModel {
        let listCount = kind.listCount, seed = parameters.seed
        let centroids = sampled.withUnsafeBufferPointer {
            KMeans(k: listCount, dimension: d, iterations: parameters.iterations, seed: seed).train($0, count: count)
        }
        var codebooks: [Float] = []
        if case let .ivfPQ(_, m, _) = kind {
            let pqCount = min(count, parameters.pqSampleCount)
            let vectors = Array(sampled[..<(pqCount * d)])
            var assignment = [Int32](repeating: 0, count: pqCount)
            vectors.withUnsafeBufferPointer { v in
                centroids.withUnsafeBufferPointer { c in
                    assignment.withUnsafeMutableBufferPointer { a in
                        KMeans.assign(v.baseAddress!, count: pqCount, centroids: c.baseAddress!, k: listCount,
                                      dimension: d, into: a.baseAddress!, distances: nil)
                    }
                }
            }
            var residuals = vectors
            for i in 0..<pqCount {
                let l = Int(assignment[i])
                for j in 0..<d { residuals[i * d + j] -= centroids[l * d + j] }
            }
            codebooks = ProductQuantizer.train(residuals: residuals, count: pqCount, dimension: d,
                                               subquantizerCount: m, seed: seed).codebooks
        }
        return try TrainedModel(kind: kind, dimension: d, centroids: centroids, codebooks: codebooks)
    }

    /// Assigns and encodes every vector with the new model, persists it, and swaps it in.
    private func rebuild(kind: IndexKind, centroids: [Float], pq: ProductQuantizer?, watermark: UInt64?) throws(VectorIndexError) {
        let n = state.count, d = dimension
        let vectors = state.keepsVectors ? state.vectors : try vectorsFromMap()
        let assigner = Assigner(dimension: d, centroids: centroids, pq: pq)
        let (lists, codes) = vectors.withUnsafeBufferPointer { assigner.assign($0, count: n) }
        let codeSize = assigner.codeSize
        let listCount = kind.listCount
        var newLists = [InvertedList](repeating: InvertedList(), count: listCount)
        var positions = [UInt32](repeating: 0, count: n)
        codes.withUnsafeBufferPointer { c in
            for slot in 0..<n where listCount > 0 {
                let l = Int(lists[slot])
                positions[slot] = UInt32(newLists[l].count)
                newLists[l].append(slot: Int32(slot), id: state.ids[slot], code: UnsafeBufferPointer(rebasing: c[(slot * codeSize)..<((slot + 1) * codeSize)]))
            }
        }
        let entry = Catalog.Entry(dimension: d, kind: kind, trainingPolicy: policy)
        let digest = state.digest
        try environment.write { (txn) throws(VectorIndexError) in
            try catalog.put(txn, name: name, entry: entry)
            try storage.putFloats(txn, "centroids", centroids)
            try storage.putFloats(txn, "codebooks", pq?.codebooks ?? [])
            for slot in 0..<n {
                try storage.putRecord(txn, id: state.ids[slot], list: lists[slot],
                                      code: codes[(slot * codeSize)..<((slot + 1) * codeSize)],
                                      vector: vectors[(slot * d)..<((slot + 1) * d)])
            }
            if pq != nil {
                try storage.putAllLists(txn, newLists, subquantizerCount: pq!.subquantizerCount, digest: digest)
            } else {
                try storage.dropLists(txn)
            }
            if let watermark { try storage.putWatermark(txn, watermark) }
        }
        let keeps = keepsVectors(kind)
        stateLock.withWriteLock {
            modelGeneration += 1
            state.vectors = keeps ? vectors : []
            state.keepsVectors = keeps
            state.kind = kind
            state.centroids = centroids
            state.pq = pq
            state.setLists(newLists)
            state.listOf = lists
            state.positionInList = positions
            if let watermark { currentWatermark = watermark }
        }
    }

    /// The vectors of `slots`, from memory or from the map.
    private func gather(_ slots: [Int]) throws(VectorIndexError) -> [Float] {
        let d = dimension
        if state.keepsVectors {
            var out = [Float]()
            out.reserveCapacity(slots.count * d)
            for s in slots { out.append(contentsOf: state.vectors[(s * d)..<((s + 1) * d)]) }
            return out
        }
        var out = [Float](repeating: 0, count: slots.count * d)
        let m = state.subquantizerCount
        try environment.read { (txn) throws(VectorIndexError) in
            try out.withUnsafeMutableBufferPointer { (o) throws(VectorIndexError) in
                for (i, s) in slots.enumerated() {
                    let id = state.ids[s]
                    guard try storage.readVector(txn, id: id, dimension: d, subquantizerCount: m, into: o.baseAddress! + i * d) else {
                        throw .corrupt("id \(id) of \(name) is indexed but has no record")
                    }
                }
            }
        }
        return out
    }

    /// Every vector in slot order, read from the map in one pass (the writer lock held, so the map and the state agree).
    /// - Complexity: O(count × dimension); the result is `count × dimension` floats, layout (count, dimension).
    private func vectorsFromMap() throws(VectorIndexError) -> [Float] {
        let d = dimension, n = state.count
        var seen = 0
        var failure: VectorIndexError?
        // Filled in place: one allocation of count × dimension floats, not a buffer and then a copy of it.
        let vectors = [Float](unsafeUninitializedCapacity: n * d) { buffer, initialized in
            buffer.initialize(repeating: 0)
            initialized = n * d
            guard let base = buffer.baseAddress else { return }
            do throws(VectorIndexError) {
                try environment.read { (txn) throws(VectorIndexError) in
                    try storage.forEachRecord(txn, dimension: d, subquantizerCount: state.subquantizerCount) { (id, _, _, vector) throws(VectorIndexError) in
                        guard let slot = state.slotOf[id] else { throw .corrupt("id \(id) of \(name) is stored but not indexed") }
                        UnsafeMutableRawPointer(base + Int(slot) * d).copyMemory(from: vector.baseAddress!, byteCount: d * 4)
                        seen += 1
                    }
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        guard seen == n else { throw .corrupt("\(name) indexes \(n) vectors and stores \(seen)") }
        return vectors
    }

    /// `k` distinct indices of `0..<n`, seeded.
    static func sample(_ n: Int, _ k: Int, _ rng: inout SeededGenerator) -> [Int] {
        if k >= n { return Array(0..<n) }
        var indices = Array(0..<n)
        for i in 0..<k { indices.swapAt(i, Int.random(in: i..<n, using: &rng)) }
        return Array(indices.prefix(k))
    }
}
