/// One inverted list: the slots (dense positions in the collection's vector storage) of the
/// vectors assigned to one coarse centroid, their ids (read beside the codes by a scan, which orders
/// equally distant candidates by id and filters by id), and, for IVF-PQ, their 4-bit codes in
/// fast-scan blocks.
struct InvertedList: Sendable {
    var slots: [Int32] = []
    var ids: [UInt64] = []
    /// Layout: (blockCount, subquantizerCount, 16) bytes. Byte `j` of subquantizer `m`'s 16
    /// bytes holds vector `j`'s code in its low nibble and vector `j + 16`'s in its high nibble.
    var codes: [UInt8] = []

    var count: Int { ids.count }

    /// Appends a slot with its codes (one byte 0..<16 per subquantizer; empty for IVF-Flat).
    mutating func append(slot: Int32, id: UInt64, code: UnsafeBufferPointer<UInt8>) {
        let position = slots.count
        slots.append(slot)
        ids.append(id)
        let m = code.count
        guard m > 0 else { return }
        if position % 32 == 0 { codes.append(contentsOf: repeatElement(0, count: m * 16)) }
        setCode(at: position, code)
    }

    /// Removes the entry at `position` by moving the last entry into it.
    /// - Returns: the slot that moved into `position`, or nil when the last entry was removed.
    mutating func remove(at position: Int, subquantizerCount m: Int) -> Int32? {
        let last = slots.count - 1
        var moved: Int32?
        if position != last {
            slots[position] = slots[last]
            ids[position] = ids[last]
            moved = slots[position]
            if m > 0 {
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: m) { buffer in
                    getCode(at: last, subquantizerCount: m, into: buffer.baseAddress!)
                    setCode(at: position, UnsafeBufferPointer(buffer))
                }
            }
        }
        slots.removeLast()
        ids.removeLast()
        if m > 0 {
            if last % 32 == 0 {
                codes.removeLast(m * 16)
            } else {
                let zero = [UInt8](repeating: 0, count: m)
                zero.withUnsafeBufferPointer { setCode(at: last, $0) }
            }
        }
        return moved
    }

    private mutating func setCode(at position: Int, _ code: UnsafeBufferPointer<UInt8>) {
        let m = code.count
        let block = (position / 32) * m * 16
        let j = position % 32
        codes.withUnsafeMutableBufferPointer { c in
            for q in 0..<m {
                let index = block + q * 16 + (j & 15)
                if j < 16 {
                    c[index] = (c[index] & 0xF0) | (code[q] & 0x0F)
                } else {
                    c[index] = (c[index] & 0x0F) | (code[q] << 4)
                }
            }
        }
    }

    func getCode(at position: Int, subquantizerCount m: Int, into out: UnsafeMutablePointer<UInt8>) {
        let block = (position / 32) * m * 16
        let j = position % 32
        for q in 0..<m {
            let byte = codes[block + q * 16 + (j & 15)]
            out[q] = j < 16 ? byte & 0x0F : byte >> 4
        }
    }
}
