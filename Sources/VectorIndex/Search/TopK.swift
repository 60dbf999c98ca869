/// A bounded max-heap keeping the `capacity` smallest (distance, label) pairs seen so far.
/// Storage is allocated once; `insert` never allocates.
struct TopK {
    private(set) var distances: [Float]
    private(set) var labels: [Int64]
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        distances = [Float](repeating: .infinity, count: max(capacity, 1))
        labels = [Int64](repeating: -1, count: max(capacity, 1))
    }

    /// The largest kept distance, or +∞ while the heap is not full: a candidate must be below it.
    @inline(__always)
    var threshold: Float { count < capacity ? .infinity : distances[0] }

    /// Offers a candidate; it is kept when it beats the current threshold.
    @inline(__always)
    mutating func insert(_ distance: Float, _ label: Int64) {
        guard capacity > 0 else { return }
        if count < capacity {
            var i = count
            count += 1
            // sift up
            while i > 0 {
                let parent = (i - 1) >> 1
                if distances[parent] >= distance { break }
                distances[i] = distances[parent]
                labels[i] = labels[parent]
                i = parent
            }
            distances[i] = distance
            labels[i] = label
        } else if distance < distances[0] {
            siftDown(distance, label)
        }
    }

    @inline(__always)
    private mutating func siftDown(_ distance: Float, _ label: Int64) {
        var i = 0
        while true {
            let left = 2 * i + 1
            if left >= count { break }
            var child = left
            if left + 1 < count && distances[left + 1] > distances[left] { child = left + 1 }
            if distances[child] <= distance { break }
            distances[i] = distances[child]
            labels[i] = labels[child]
            i = child
        }
        distances[i] = distance
        labels[i] = label
    }

    /// Empties the heap, keeping its storage.
    mutating func reset() { count = 0 }

    /// The kept pairs in ascending distance order (ties by label).
    func sorted() -> [(distance: Float, label: Int64)] {
        (0..<count).map { (distances[$0], labels[$0]) }.sorted {
            $0.distance < $1.distance || ($0.distance == $1.distance && $0.label < $1.label)
        }
    }
}
