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
