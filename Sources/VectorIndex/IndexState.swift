/// The in-memory, searchable form of a collection.
///
/// Entries live in dense slots (`0..<count`); removing a slot moves the last one into it, so
/// storage never has holes. Mutated only by the collection's single writer under the write side
/// of its lock, searched under the read side.
///
/// The float32 vectors are kept here only when a search scans them (flat, IVF-Flat) or when asked
/// (`VectorResidence.memory`); an IVF-PQ collection otherwise keeps ids, codes and lists, and its
/// re-ranking reads the few hundred candidates' vectors from the LMDB map.
final class IndexState: @unchecked Sendable {
    // @unchecked Sendable: every access is guarded by VectorCollection's writer mutex and
    // readers-writer lock (see VectorCollection).
    let dimension: Int
    var kind: IndexKind
    /// Slot → id.
    var ids: [UInt64] = []
    /// Layout: (count, dimension), slot order; empty unless `keepsVectors`.
    var vectors: [Float] = []
    /// Whether `vectors` holds every entry's vector. Changed only together with `vectors`.
    var keepsVectors = true
    /// Id → slot.
    var slotOf: [UInt64: Int32] = [:]
    /// Slot → inverted list (unused while flat).
    var listOf: [UInt32] = []
    /// Slot → position inside its inverted list.
    var positionInList: [UInt32] = []
    /// Layout: (listCount, dimension).
    var centroids: [Float] = []
    var pq: ProductQuantizer?
    /// Inverted lists; replace them only through `setLists`.
    private(set) var lists: [InvertedList] = []
    /// `lists[l].count`, kept flat so a search reads list sizes without touching each list's
    /// heap storage (one cache miss per probed list otherwise).
    private(set) var listCounts: [Int32] = []

    /// Replaces the inverted lists.
    func setLists(_ newLists: [InvertedList]) {
        lists = newLists
        listCounts = newLists.map { Int32($0.count) }
    }

    init(dimension: Int, kind: IndexKind) {
        self.dimension = dimension
        self.kind = kind
    }

    var count: Int { ids.count }
    /// The wrapping sum of `entryDigest` over every (id, vector): order-independent, so two copies that hold the same
    /// vectors under the same ids have the same digest however they got there.
    var digest: UInt64 = 0
    var subquantizerCount: Int { pq?.subquantizerCount ?? 0 }

    /// Appends a vector. `list` and `code` come from `Assigner` (ignored while flat).
    /// - Parameter vector: `dimension` floats, possibly unaligned (LMDB values are only 2-byte aligned).
    func append(id: UInt64, vector: UnsafeRawBufferPointer, list: UInt32, code: UnsafeBufferPointer<UInt8>) {
        precondition(vector.count == dimension * 4)
        digest &+= Self.entryDigest(id: id, vector: vector)
        let slot = Int32(ids.count)
        ids.append(id)
        if keepsVectors {
            let start = vectors.count
            vectors.append(contentsOf: repeatElement(0, count: dimension))
            vectors.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: start * 4).copyMemory(from: vector.baseAddress!, byteCount: vector.count) }
        }
        slotOf[id] = slot
        if lists.isEmpty {
            listOf.append(CollectionStorage.flatList)
            positionInList.append(0)
        } else {
            listOf.append(list)
            positionInList.append(UInt32(lists[Int(list)].count))
            lists[Int(list)].append(slot: slot, id: id, code: code)
            listCounts[Int(list)] += 1
        }
    }

    /// Removes `id`, if present.
    /// - Parameter storedDigest: `entryDigest` of the vector stored for `id`; needed when the vectors are not kept here.
    /// - Complexity: O(dimension + subquantizerCount).
    func remove(id: UInt64, storedDigest: UInt64? = nil) {
        guard let s = slotOf.removeValue(forKey: id) else { return }
        let slot = Int(s)
        if keepsVectors {
            vectors.withUnsafeBytes { bytes in
                digest &-= Self.entryDigest(id: id, vector: UnsafeRawBufferPointer(rebasing: bytes[(slot * dimension * 4)..<((slot + 1) * dimension * 4)]))
            }
        } else {
            precondition(storedDigest != nil, "removing an entry whose vector is not in memory needs its stored digest")
            digest &-= storedDigest!
        }
        if !lists.isEmpty {
            let list = Int(listOf[slot])
            let position = Int(positionInList[slot])
            listCounts[list] -= 1
            if let moved = lists[list].remove(at: position, subquantizerCount: subquantizerCount) {
                positionInList[Int(moved)] = UInt32(position)
            }
        }
        let last = ids.count - 1
        if slot != last {
            let movedID = ids[last]
            ids[slot] = movedID
            slotOf[movedID] = s
            listOf[slot] = listOf[last]
            positionInList[slot] = positionInList[last]
            if keepsVectors {
                vectors.withUnsafeMutableBufferPointer { v in
                    let d = dimension
                    (v.baseAddress! + slot * d).update(from: v.baseAddress! + last * d, count: d)
                }
            }
            if !lists.isEmpty {
                lists[Int(listOf[slot])].slots[Int(positionInList[slot])] = s
            }
        }
        ids.removeLast()
        if keepsVectors { vectors.removeLast(dimension) }
        listOf.removeLast()
        positionInList.removeLast()
    }

    /// The inverted lists that removing `removals` (each present) and then, for each write, removing its id (when
    /// present) and appending it would leave — the lists those calls of `remove` and `append` touch, computed on copies
    /// (their `slots` are not meaningful; ids and codes are), each with the 32-entry blocks whose content changed. A
    /// commit writes these blocks before changing the state.
    /// - Complexity: O(touched lists' sizes + (removals + writes) × subquantizerCount) — the touched lists are copied.
    func listsAfter(removals: [UInt64], writes: [(id: UInt64, list: UInt32)],
                    codes: UnsafeBufferPointer<UInt8>) -> [Int: (list: InvertedList, blocks: Set<Int>)] {
        let m = subquantizerCount, size = CollectionStorage.blockSize
        var copies: [Int: InvertedList] = [:]
        var touched: [Int: Set<Int>] = [:]
        // Where the simulation has put ids so far (nil: removed).
        var moved: [UInt64: (list: Int, position: Int)?] = [:]
        func location(_ id: UInt64) -> (list: Int, position: Int)? {
            if let overlay = moved[id] { return overlay }
            guard let s = slotOf[id] else { return nil }
            return (Int(listOf[Int(s)]), Int(positionInList[Int(s)]))
        }
        func remove(_ id: UInt64) {
            guard let (l, p) = location(id) else { return }
            var list = copies[l] ?? lists[l]
            touched[l, default: []].formUnion([p / size, (list.count - 1) / size])
            if list.remove(at: p, subquantizerCount: m) != nil { moved[list.ids[p]] = (l, p) }
            moved[id] = .some(nil)
            copies[l] = list
        }
        for id in removals { remove(id) }
        for (i, (id, l)) in writes.enumerated() {
            remove(id)
            var list = copies[Int(l)] ?? lists[Int(l)]
            moved[id] = (Int(l), list.count)
            touched[Int(l), default: []].insert(list.count / size)
            list.append(slot: -1, id: id, code: UnsafeBufferPointer(rebasing: codes[(i * m)..<((i + 1) * m)]))
            copies[Int(l)] = list
        }
        return copies.reduce(into: [:]) { out, entry in out[entry.key] = (entry.value, touched[entry.key] ?? []) }
    }

    /// `entryDigest` of the vector kept in memory for `id` (nil when absent or not kept here).
    func keptDigest(of id: UInt64) -> UInt64? {
        guard keepsVectors, let s = slotOf[id] else { return nil }
        let slot = Int(s)
        return vectors.withUnsafeBytes { bytes in
            Self.entryDigest(id: id, vector: UnsafeRawBufferPointer(rebasing: bytes[(slot * dimension * 4)..<((slot + 1) * dimension * 4)]))
        }
    }

    /// Fills an empty state from stored list blocks: slots are handed out list after list.
    /// - Returns: false when an id is in two lists (the state is then unusable).
    /// - Complexity: O(count), one hash-map insertion per entry.
    func loadLists(_ newLists: [InvertedList], digest: UInt64) -> Bool {
        // Built in locals and stored once: a class's properties touched ten million times in a loop pay a dynamic
        // exclusivity check each time (a third of a 10 M-vector start, by `perf`).
        let total = newLists.reduce(0) { $0 + $1.count }
        var ids = [UInt64](), listOf = [UInt32](), positionInList = [UInt32]()
        ids.reserveCapacity(total)
        listOf.reserveCapacity(total)
        positionInList.reserveCapacity(total)
        var slotOf = [UInt64: Int32](minimumCapacity: total)
        var filled = newLists
        for l in filled.indices {
            let start = Int32(ids.count), n = filled[l].count
            filled[l].slots = Array(start..<(start + Int32(n)))
            filled[l].ids.withUnsafeBufferPointer { listIDs in
                for p in 0..<n {
                    slotOf[listIDs[p]] = start + Int32(p)
                    ids.append(listIDs[p])
                    listOf.append(UInt32(l))
                    positionInList.append(UInt32(p))
                }
            }
        }
        self.ids = ids
        self.slotOf = slotOf
        self.listOf = listOf
        self.positionInList = positionInList
        setLists(filled)
        self.digest = digest
        return slotOf.count == ids.count
    }

    /// A 64-bit hash of one id and its vector's bytes (FNV-style over 8-byte words, finished with SplitMix64's mixer).
    static func entryDigest(id: UInt64, vector: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ id
        var offset = 0
        while offset + 8 <= vector.count {
            h = (h ^ vector.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0x100_0000_01b3
            offset += 8
        }
        while offset < vector.count {
            h = (h ^ UInt64(vector[offset])) &* 0x100_0000_01b3
            offset += 1
        }
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }

    /// A copy of the vector of `id` kept in memory (nil when absent or when the vectors are not kept here).
    func vector(for id: UInt64) -> [Float]? {
        guard keepsVectors, let s = slotOf[id] else { return nil }
        let start = Int(s) * dimension
        return Array(vectors[start..<(start + dimension)])
    }
}
