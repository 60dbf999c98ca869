/// A bounded max-heap keeping the `capacity` smallest (distance, key) pairs seen so far, each with a label.
/// Storage is allocated once and owned by this non-copyable value, so `insert` neither
/// allocates nor pays copy-on-write checks.
///
/// Pairs are ordered by distance, then key, so which of several equally distant candidates are kept
/// does not depend on the order they are offered in: two copies of a collection holding their vectors
/// in other slots answer alike. The key is the id (the label itself, or — for candidates labelled by
/// slot — the id read beside the slot in its inverted list).
struct TopK: ~Copyable {
    private let distanceStorage: UnsafeMutablePointer<Float>
    private let labelStorage: UnsafeMutablePointer<Int64>
    private let keyStorage: UnsafeMutablePointer<UInt64>
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        distanceStorage = .allocate(capacity: max(capacity, 1))
        labelStorage = .allocate(capacity: max(capacity, 1))
        keyStorage = .allocate(capacity: max(capacity, 1))
    }

    deinit {
        distanceStorage.deallocate()
        labelStorage.deallocate()
        keyStorage.deallocate()
    }

    /// The largest kept distance, or +∞ while the heap is not full: a candidate must not be above it (one equal to it
    /// is kept when its key is lower).
    @inline(__always)
    var threshold: Float { count < capacity ? .infinity : distanceStorage[0] }

    /// The label kept at heap position `i` (0..<count), in no particular order.
    @inline(__always)
    func label(at i: Int) -> Int64 { labelStorage[i] }

    /// The key kept at heap position `i` (0..<count).
    @inline(__always)
    func key(at i: Int) -> UInt64 { keyStorage[i] }

    /// Offers a candidate whose label is its key (an id, a list number).
    @inline(__always)
    mutating func insert(_ distance: Float, _ label: Int64) {
        insert(distance, label, key: UInt64(bitPattern: label))
    }

    /// Offers a candidate; it is kept when it orders before the current worst.
    @inline(__always)
    mutating func insert(_ distance: Float, _ label: Int64, key: UInt64) {
        let d = distanceStorage, l = labelStorage, k = keyStorage
        /// Whether the pair at heap position `i` orders after (distance, key).
        @inline(__always) func above(_ i: Int, _ distance: Float, _ key: UInt64) -> Bool {
            d[i] > distance || (d[i] == distance && k[i] > key)
        }
        if count < capacity {
            var i = count
            count += 1
            while i > 0 {
                let parent = (i - 1) >> 1
                // Up while the new pair orders after its parent (a max-heap).
                if !(distance > d[parent] || (distance == d[parent] && key > k[parent])) { break }
                d[i] = d[parent]
                l[i] = l[parent]
                k[i] = k[parent]
                i = parent
            }
            d[i] = distance
            l[i] = label
            k[i] = key
        } else if capacity > 0 && above(0, distance, key) {
            var i = 0
            while true {
                let left = 2 * i + 1
                if left >= count { break }
                var child = left
                if left + 1 < count && above(left + 1, d[left], k[left]) { child = left + 1 }
                if !above(child, distance, key) { break }
                d[i] = d[child]
                l[i] = l[child]
                k[i] = k[child]
                i = child
            }
            d[i] = distance
            l[i] = label
            k[i] = key
        }
    }

    /// The kept pairs in ascending order (distance, then key).
    func sorted() -> [(distance: Float, label: Int64)] {
        (0..<count).sorted {
            distanceStorage[$0] < distanceStorage[$1] || (distanceStorage[$0] == distanceStorage[$1] && keyStorage[$0] < keyStorage[$1])
        }.map { (distanceStorage[$0], labelStorage[$0]) }
    }
}
