/// A bounded max-heap keeping the `capacity` smallest (distance, label) pairs seen so far.
/// Storage is allocated once and owned by this non-copyable value, so `insert` neither
/// allocates nor pays copy-on-write checks.
struct TopK: ~Copyable {
    private let distanceStorage: UnsafeMutablePointer<Float>
    private let labelStorage: UnsafeMutablePointer<Int64>
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        distanceStorage = .allocate(capacity: max(capacity, 1))
        labelStorage = .allocate(capacity: max(capacity, 1))
    }

    deinit {
        distanceStorage.deallocate()
        labelStorage.deallocate()
    }

    /// The largest kept distance, or +∞ while the heap is not full: a candidate must be below it.
    @inline(__always)
    var threshold: Float { count < capacity ? .infinity : distanceStorage[0] }

    /// The label kept at heap position `i` (0..<count), in no particular order.
    @inline(__always)
    func label(at i: Int) -> Int64 { labelStorage[i] }

    /// Offers a candidate; it is kept when it beats the current threshold.
    @inline(__always)
    mutating func insert(_ distance: Float, _ label: Int64) {
        let d = distanceStorage, l = labelStorage
        if count < capacity {
            var i = count
            count += 1
            while i > 0 {
                let parent = (i - 1) >> 1
                if d[parent] >= distance { break }
                d[i] = d[parent]
                l[i] = l[parent]
                i = parent
            }
            d[i] = distance
            l[i] = label
        } else if capacity > 0 && distance < d[0] {
            var i = 0
            while true {
                let left = 2 * i + 1
                if left >= count { break }
                var child = left
                if left + 1 < count && d[left + 1] > d[left] { child = left + 1 }
                if d[child] <= distance { break }
                d[i] = d[child]
                l[i] = l[child]
                i = child
            }
            d[i] = distance
            l[i] = label
        }
    }

    /// The kept pairs in ascending distance order (ties by label).
    func sorted() -> [(distance: Float, label: Int64)] {
        (0..<count).map { (distanceStorage[$0], labelStorage[$0]) }.sorted {
            $0.distance < $1.distance || ($0.distance == $1.distance && $0.label < $1.label)
        }
    }
}
