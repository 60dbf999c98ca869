/// A bounded max-heap keeping the `capacity` smallest (distance, label) pairs seen so far.
/// Storage is allocated once and owned by this non-copyable value, so `insert` neither
/// allocates nor pays copy-on-write checks.
struct TopK: ~Copyable {
    private let distanceStorage: UnsafeMutablePointer<Float>
    private let labelStorage: UnsafeMutablePointer<Int64>
    private(set) var count = 0
    let capacity: Int
    /// When set, labels are slots and equally distant pairs are ordered by `ids[label]` (read only on a tie), not by label.
    private let ids: UnsafePointer<UInt64>?

    init(capacity: Int, orderingTiesBy ids: UnsafePointer<UInt64>? = nil) {
        self.capacity = capacity
        self.ids = ids
        distanceStorage = .allocate(capacity: max(capacity, 1))
        labelStorage = .allocate(capacity: max(capacity, 1))
    }

    deinit {
        distanceStorage.deallocate()
        labelStorage.deallocate()
    }

    /// The largest kept distance, or +∞ while the heap is not full: a candidate must not be above it (one equal to it
    /// is kept when its label is lower).
    @inline(__always)
    var threshold: Float { count < capacity ? .infinity : distanceStorage[0] }

    /// The label kept at heap position `i` (0..<count), in no particular order.
    @inline(__always)
    func label(at i: Int) -> Int64 { labelStorage[i] }

    /// Offers a candidate; it is kept when it beats the current worst. Pairs are ordered by distance, then label, so
    /// which of several equally distant candidates are kept does not depend on the order they are offered in (two
    /// copies of a collection with their vectors in other slots answer alike).
    @inline(__always)
    mutating func insert(_ distance: Float, _ label: Int64) {
        let d = distanceStorage, l = labelStorage
        /// Whether the pair at heap position `i` orders after (distance, label).
        @inline(__always) func above(_ i: Int, _ distance: Float, _ label: Int64) -> Bool {
            d[i] > distance || (d[i] == distance && key(l[i]) > key(label))
        }
        if count < capacity {
            var i = count
            count += 1
            while i > 0 {
                let parent = (i - 1) >> 1
                if distance < d[parent] || (distance == d[parent] && key(label) < key(l[parent])) { break }
                d[i] = d[parent]
                l[i] = l[parent]
                i = parent
            }
            d[i] = distance
            l[i] = label
        } else if capacity > 0 && above(0, distance, label) {
            var i = 0
            while true {
                let left = 2 * i + 1
                if left >= count { break }
                var child = left
                if left + 1 < count && above(left + 1, d[left], l[left]) { child = left + 1 }
                if !above(child, distance, label) { break }
                d[i] = d[child]
                l[i] = l[child]
                i = child
            }
            d[i] = distance
            l[i] = label
        }
    }

    /// The kept pairs in ascending distance order (ties by label, or by the slots' ids).
    func sorted() -> [(distance: Float, label: Int64)] {
        (0..<count).map { (distanceStorage[$0], labelStorage[$0]) }.sorted {
            $0.distance < $1.distance || ($0.distance == $1.distance && key($0.label) < key($1.label))
        }
    }

    /// What orders equally distant pairs: the label, or the id of the slot it names.
    @inline(__always)
    private func key(_ label: Int64) -> UInt64 {
        if let ids { return ids[Int(label)] }
        return UInt64(bitPattern: label)
    }
}
