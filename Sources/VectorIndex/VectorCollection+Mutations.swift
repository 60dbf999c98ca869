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

    /// Applies a batch of mutations atomically: every change of the batch and, when given, the new watermark are written
    /// in one LMDB transaction and are visible to the next search when the call returns. Mutations apply in order (adding
    /// then removing the same id in one batch leaves nothing). Any invalid mutation rejects the whole batch and nothing of
    /// it is written.
    ///
    /// Group commit: batches from concurrent callers are coalesced. Each caller queues its batch; when no commit is
    /// running it becomes the leader and commits every queued batch, in queue order, in one transaction (one fsync) under
    /// the writer lock; otherwise it sleeps until a commit ends, and returns as soon as one has taken its batch — it does
    /// not queue behind the writer lock just to learn that, so it can queue its next batch while the next commit runs.
    /// Nothing waits on purpose: batches gather while a commit runs. A batch that is invalid against the batches before
    /// it is refused alone; the others commit.
    /// - Complexity: O(batch × (dimension + listCount × dimension)) plus LMDB writes, shared by the group.
    public func apply(_ mutations: [Mutation], watermark: UInt64? = nil) throws(VectorIndexError) {
        for mutation in mutations {
            switch mutation {
            case let .add(id, vector), let .update(id, vector), let .upsert(id, vector): try validate(vector, id: id)
            case .remove, .removeIfPresent: break
            }
        }
        let batch = PendingBatch(mutations: mutations, watermark: watermark)
        batch.assigned = assignInAdvance(mutations)
        groupCondition.lock()
        pending.append(batch)
        while !batch.done {
            if committing {
                groupCondition.wait()
                continue
            }
            committing = true
            let group = pending
            pending.removeAll()
            groupCondition.unlock()
            writer.lock()
            commit(group)
            writer.unlock()
            groupCommits.add(1, ordering: .relaxed)
            groupCondition.lock()
            committing = false
            groupCondition.broadcast()
        }
        groupCondition.unlock()
        if let failure = batch.failure { throw failure }
    }

    /// The lists and codes of the batch's vectors under the current model, computed by the caller before it queues (the
    /// 4,096-centroid scan then runs on the callers' threads, not serially in the committing one). Nil while flat.
    private func assignInAdvance(_ mutations: [Mutation]) -> PendingBatch.Assignments? {
        var last: [UInt64: [Float]] = [:]
        for mutation in mutations {
            switch mutation {
            case let .add(id, vector), let .update(id, vector), let .upsert(id, vector): last[id] = vector
            case let .remove(id), let .removeIfPresent(id): last[id] = nil
            }
        }
        guard !last.isEmpty else { return nil }
        let model = stateLock.withReadLock { () -> (Assigner, Int)? in
            state.centroids.isEmpty ? nil : (Assigner(dimension: dimension, centroids: state.centroids, pq: state.pq), modelGeneration)
        }
        guard let (assigner, generation) = model else { return nil }
        let entries = Array(last)
        let flat = entries.flatMap(\.value)
        let (lists, codes) = flat.withUnsafeBufferPointer { assigner.assign($0, count: entries.count) }
        let size = assigner.codeSize
        var byID: [UInt64: (vector: [Float], list: UInt32, code: ArraySlice<UInt8>)] = [:]
        for (i, (id, vector)) in entries.enumerated() {
            byID[id] = (vector, lists[i], codes[(i * size)..<((i + 1) * size)])
        }
        return PendingBatch.Assignments(generation: generation, byID: byID)
    }

    /// Commits `group` (the writer lock held): each batch's net effect on top of the batches before it, one LMDB transaction
    /// for all of them, then the in-memory index. Every batch is marked done with its outcome.
    private func commit(_ group: [PendingBatch]) {
        defer { for batch in group { batch.done = true } }
        if dropped {
            for batch in group { batch.failure = .unknownCollection(name) }
            return
        }
        let (final, order, watermark, accepted, lastBatch) = netEffect(of: group)
        guard !accepted.isEmpty else { return }
        let writes = order.compactMap { id in final[id]!.map { (id, $0) } }
        var flat = [Float]()
        flat.reserveCapacity(writes.count * dimension)
        for (_, v) in writes { flat.append(contentsOf: v) }
        let (lists, codes, codeSize) = listsAndCodes(for: writes, assignedBy: lastBatch)
        let removals = order.filter { final[$0]! == nil && state.slotOf[$0] != nil }

        // Vectors kept only in the map: the digests of what is replaced or removed are read before it is overwritten.
        let replaced = state.keepsVectors ? [] : order.filter { state.slotOf[$0] != nil }
        let m = state.subquantizerCount
        // IVF-PQ keeps its lists as blocks in the map too: the blocks this commit changes, as the state will hold them.
        let blocks = state.pq == nil ? [:] : codes.withUnsafeBufferPointer {
            state.listsAfter(removals: removals, writes: writes.enumerated().map { ($1.0, lists[$0]) }, codes: $0)
        }
        var storedDigests: [UInt64: UInt64] = [:]
        do throws(VectorIndexError) {
            storedDigests = try environment.write { (txn) throws(VectorIndexError) -> [UInt64: UInt64] in
                var digests: [UInt64: UInt64] = [:]
                for id in replaced {
                    guard let digest = try storage.storedDigest(txn, id: id, dimension: dimension, subquantizerCount: m) else {
                        throw .corrupt("id \(id) of \(name) is indexed but has no record")
                    }
                    digests[id] = digest
                }
                if !blocks.isEmpty {
                    for (number, changed) in blocks {
                        for block in changed.blocks {
                            try storage.putBlock(txn, list: number, block: block, of: changed.list, subquantizerCount: m)
                        }
                    }
                    var digest = state.digest
                    for id in order where state.slotOf[id] != nil { digest &-= digests[id] ?? state.keptDigest(of: id)! }
                    for (id, vector) in writes { digest &+= vector.withUnsafeBytes { IndexState.entryDigest(id: id, vector: $0) } }
                    try storage.putDigest(txn, digest)
                }
                for id in removals { try storage.deleteRecord(txn, id: id) }
                for (i, (id, _)) in writes.enumerated() {
                    try storage.putRecord(txn, id: id, list: lists[i], code: codes[(i * codeSize)..<((i + 1) * codeSize)],
                                          vector: flat[(i * dimension)..<((i + 1) * dimension)])
                }
                if let watermark { try storage.putWatermark(txn, watermark) }
                return digests
            }
        } catch {
            for batch in accepted { batch.failure = error }
            return
        }

        stateLock.withWriteLock {
            for id in removals { state.remove(id: id, storedDigest: storedDigests[id]) }
            flat.withUnsafeBufferPointer { v in
                codes.withUnsafeBufferPointer { c in
                    for (i, (id, _)) in writes.enumerated() {
                        state.remove(id: id, storedDigest: storedDigests[id])
                        state.append(id: id, vector: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: v[(i * dimension)..<((i + 1) * dimension)])),
                                     list: lists[i],
                                     code: UnsafeBufferPointer(rebasing: c[(i * codeSize)..<((i + 1) * codeSize)]))
                    }
                }
            }
            if let watermark { currentWatermark = watermark }
        }

        if let policy, state.kind == .flat, state.count >= policy.threshold {
            do throws(VectorIndexError) {
                try trainLocked(kind: policy.kind, parameters: TrainingParameters(threads: ProcessInfo.processInfo.activeProcessorCount))
            } catch {
                // The batches are committed; the collection stays flat and trains at the next commit.
            }
        }
    }


    /// Each batch's effect on top of the batches before it: the final vector (nil: removed) per id in first-touch order,
    /// the last watermark, the accepted batches and, per id, the batch that last wrote it. A batch invalid against the
    /// ones before it gets its failure and is left out.
    private func netEffect(of group: [PendingBatch]) -> (final: [UInt64: [Float]?], order: [UInt64], watermark: UInt64?,
                                                         accepted: [PendingBatch], lastBatch: [UInt64: PendingBatch]) {
        var final: [UInt64: [Float]?] = [:]
        var order: [UInt64] = []
        var watermark: UInt64?
        var accepted: [PendingBatch] = []
        var lastBatch: [UInt64: PendingBatch] = [:]
        for batch in group {
            do throws(VectorIndexError) {
                let effect = try effect(of: batch.mutations) { id in
                    if let pending = final[id] { return pending != nil }
                    return state.slotOf[id] != nil
                }
                for (id, vector) in effect {
                    if final.updateValue(vector, forKey: id) == nil { order.append(id) }
                    lastBatch[id] = batch
                }
                if let w = batch.watermark { watermark = w }
                accepted.append(batch)
            } catch {
                batch.failure = error
            }
        }
        return (final, order, watermark, accepted, lastBatch)
    }

    /// The list and code of every write under the current model: the caller's, where it computed them under this model
    /// for this vector, the rest assigned here in one call.
    /// - Returns: one list per write, the codes (layout (writes, codeSize)) and the code size.
    private func listsAndCodes(for writes: [(UInt64, [Float])],
                               assignedBy lastBatch: [UInt64: PendingBatch]) -> ([UInt32], [UInt8], Int) {
        let assigner = Assigner(dimension: dimension, centroids: state.centroids, pq: state.pq)
        let codeSize = assigner.codeSize
        var lists = [UInt32](repeating: CollectionStorage.flatList, count: writes.count)
        var codes = [UInt8](repeating: 0, count: writes.count * codeSize)
        var missing: [Int] = []
        for (i, (id, vector)) in writes.enumerated() {
            if let assigned = lastBatch[id]?.assigned, assigned.generation == modelGeneration,
               let entry = assigned.byID[id], entry.vector == vector {
                lists[i] = entry.list
                codes.replaceSubrange((i * codeSize)..<((i + 1) * codeSize), with: entry.code)
            } else {
                missing.append(i)
            }
        }
        guard !missing.isEmpty else { return (lists, codes, codeSize) }
        var rest = [Float]()
        rest.reserveCapacity(missing.count * dimension)
        for i in missing { rest.append(contentsOf: writes[i].1) }
        let (restLists, restCodes) = rest.withUnsafeBufferPointer { assigner.assign($0, count: missing.count) }
        for (j, i) in missing.enumerated() {
            lists[i] = restLists[j]
            codes.replaceSubrange((i * codeSize)..<((i + 1) * codeSize), with: restCodes[(j * codeSize)..<((j + 1) * codeSize)])
        }
        return (lists, codes, codeSize)
    }

    /// The net effect of one batch (vector, or nil for removed) per id in first-touch order, checked against `present`
    /// (what the collection and the batches before it hold).
    /// - Throws: `duplicateID` / `unknownID` for a mutation the state does not allow; nothing is returned then.
    private func effect(of mutations: [Mutation], present isPresent: (UInt64) -> Bool) throws(VectorIndexError) -> [(UInt64, [Float]?)] {
        var local: [UInt64: [Float]?] = [:]
        var order: [UInt64] = []
        func present(_ id: UInt64) -> Bool {
            if let pending = local[id] { return pending != nil }
            return isPresent(id)
        }
        func set(_ id: UInt64, _ vector: [Float]?) {
            if local.updateValue(vector, forKey: id) == nil { order.append(id) }
        }
        for mutation in mutations {
            switch mutation {
            case let .add(id, vector):
                if present(id) { throw .duplicateID(id) }
                set(id, vector)
            case let .update(id, vector):
                if !present(id) { throw .unknownID(id) }
                set(id, vector)
            case let .upsert(id, vector):
                set(id, vector)
            case let .remove(id):
                if !present(id) { throw .unknownID(id) }
                set(id, nil)
            case let .removeIfPresent(id):
                if present(id) { set(id, nil) }
            }
        }
        return order.map { ($0, local[$0]!) }
    }

    private func validate(_ vector: [Float], id: UInt64) throws(VectorIndexError) {
        guard vector.count == dimension else { throw .dimensionMismatch(expected: dimension, got: vector.count) }
        guard vector.allSatisfy(\.isFinite) else { throw .nonFiniteComponent(id: id) }
    }
}

/// One caller's batch waiting for a group commit. Written by the committing caller, read by its owner after the commit
/// has ended (`groupCondition` orders the two).
final class PendingBatch: @unchecked Sendable {
    /// Lists and codes its caller computed for its vectors under model `generation`.
    struct Assignments {
        let generation: Int
        let byID: [UInt64: (vector: [Float], list: UInt32, code: ArraySlice<UInt8>)]
    }

    let mutations: [Mutation]
    let watermark: UInt64?
    var assigned: Assignments?
    var done = false
    var failure: VectorIndexError?

    init(mutations: [Mutation], watermark: UInt64?) {
        self.mutations = mutations
        self.watermark = watermark
    }
}
