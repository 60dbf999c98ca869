import Foundation

extension VectorCollection {
    /// Adds one vector.
    public func add(id: UInt64, vector: [Float], watermark: UInt64? = nil) throws(VectorIndexError) {
        try apply([.add(id: id, vector: vector)], watermark: watermark)
    }

    /// Adds many vectors in one transaction.
    public func add(ids: [UInt64], vectors: [[Float]], watermark: UInt64? = nil) throws(VectorIndexError) {
        guard ids.count == vectors.count else { throw .invalidArgument("\(ids.count) ids for \(vectors.count) vectors") }
        try apply(zip(ids, vectors).map { .add(id: $0, vector: $1) }, watermark: watermark)
    }

    /// Replaces the vector of an existing id.
    public func update(id: UInt64, vector: [Float], watermark: UInt64? = nil) throws(VectorIndexError) {
        try apply([.update(id: id, vector: vector)], watermark: watermark)
    }

    /// Removes existing ids in one transaction.
    public func remove(ids: [UInt64], watermark: UInt64? = nil) throws(VectorIndexError) {
        try apply(ids.map { .remove(id: $0) }, watermark: watermark)
    }

    /// Applies a batch of mutations atomically: one LMDB write transaction holding every change
    /// and, when given, the new watermark. Mutations apply in order (adding then removing the
    /// same id in one batch leaves nothing). Any invalid mutation rejects the whole batch and
    /// nothing is written.
    /// - Complexity: O(batch × (dimension + listCount × dimension)) plus LMDB writes.
    public func apply(_ mutations: [Mutation], watermark: UInt64? = nil) throws(VectorIndexError) {
        writer.lock()
        defer { writer.unlock() }
        try checkNotDropped()

        // The net effect of the batch per id, in first-touch order.
        var final: [UInt64: [Float]?] = [:]
        var order: [UInt64] = []
        func present(_ id: UInt64) -> Bool {
            if let pending = final[id] { return pending != nil }
            return state.slotOf[id] != nil
        }
        func set(_ id: UInt64, _ vector: [Float]?) {
            if final.updateValue(vector, forKey: id) == nil { order.append(id) }
        }
        for mutation in mutations {
            switch mutation {
            case let .add(id, vector):
                try validate(vector, id: id)
                if present(id) { throw .duplicateID(id) }
                set(id, vector)
            case let .update(id, vector):
                try validate(vector, id: id)
                if !present(id) { throw .unknownID(id) }
                set(id, vector)
            case let .upsert(id, vector):
                try validate(vector, id: id)
                set(id, vector)
            case let .remove(id):
                if !present(id) { throw .unknownID(id) }
                set(id, nil)
            case let .removeIfPresent(id):
                if present(id) { set(id, nil) }
            }
        }

        // Lists and codes for everything written, from the current model.
        let writes = order.compactMap { id in final[id]!.map { (id, $0) } }
        var flat = [Float]()
        flat.reserveCapacity(writes.count * dimension)
        for (_, v) in writes { flat.append(contentsOf: v) }
        let assigner = Assigner(dimension: dimension, centroids: state.centroids, pq: state.pq)
        let (lists, codes) = flat.withUnsafeBufferPointer { assigner.assign($0, count: writes.count) }
        let codeSize = assigner.codeSize
        let removals = order.filter { final[$0]! == nil && state.slotOf[$0] != nil }

        try environment.write { (txn) throws(VectorIndexError) in
            for id in removals { try storage.deleteRecord(txn, id: id) }
            for (i, (id, _)) in writes.enumerated() {
                try storage.putRecord(txn, id: id, list: lists[i], code: codes[(i * codeSize)..<((i + 1) * codeSize)],
                                      vector: flat[(i * dimension)..<((i + 1) * dimension)])
            }
            if let watermark { try storage.putWatermark(txn, watermark) }
        }

        stateLock.withWriteLock {
            for id in removals { state.remove(id: id) }
            flat.withUnsafeBufferPointer { v in
                codes.withUnsafeBufferPointer { c in
                    for (i, (id, _)) in writes.enumerated() {
                        state.remove(id: id)
                        state.append(id: id, vector: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: v[(i * dimension)..<((i + 1) * dimension)])),
                                     list: lists[i],
                                     code: UnsafeBufferPointer(rebasing: c[(i * codeSize)..<((i + 1) * codeSize)]))
                    }
                }
            }
            if let watermark { currentWatermark = watermark }
        }

        if let policy, state.kind == .flat, state.count >= policy.threshold {
            try trainLocked(kind: policy.kind, parameters: TrainingParameters(threads: ProcessInfo.processInfo.activeProcessorCount))
        }
    }

    private func validate(_ vector: [Float], id: UInt64) throws(VectorIndexError) {
        guard vector.count == dimension else { throw .dimensionMismatch(expected: dimension, got: vector.count) }
        guard vector.allSatisfy(\.isFinite) else { throw .nonFiniteComponent(id: id) }
    }
}
