import CVectorKernels
import Testing
@testable import VectorIndex

@Suite struct KernelTests {
    @Test(arguments: [1, 7, 8, 15, 16, 17, 127, 128, 300])
    func squaredL2MatchesScalar(dimension: Int) {
        var rng = SeededGenerator(seed: UInt64(dimension))
        let a = (0..<dimension).map { _ in Float.random(in: -1...1, using: &rng) }
        let b = (0..<dimension).map { _ in Float.random(in: -1...1, using: &rng) }
        let reference = zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        let fast = Distance.squaredL2(a, b, dimension: dimension)
        #expect(abs(fast - reference) <= 1e-5 * max(1, reference))
        let norm = Distance.squaredNorm(a, dimension: dimension)
        #expect(abs(norm - a.reduce(0) { $0 + $1 * $1 }) <= 1e-5 * max(1, norm))
    }

    @Test(arguments: [2, 16, 64])
    func fastScanMatchesScalarReference(subquantizers m: Int) {
        var rng = SeededGenerator(seed: 7)
        let vectorCount = 100
        var list = InvertedList()
        var allCodes: [[UInt8]] = []
        for i in 0..<vectorCount {
            let code = (0..<m).map { _ in UInt8.random(in: 0..<16, using: &rng) }
            allCodes.append(code)
            code.withUnsafeBufferPointer { list.append(slot: Int32(i), id: UInt64(i), code: $0) }
        }
        let lut = (0..<(m * 16)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let blocks = (vectorCount + 31) / 32
        var out = [UInt16](repeating: 0, count: blocks * 32)
        vk_fastscan_u16(list.codes, blocks, lut, Int32(m), &out)
        for i in 0..<vectorCount {
            let reference = (0..<m).reduce(0) { $0 + Int(lut[$1 * 16 + Int(allCodes[i][$1])]) }
            #expect(Int(out[i]) == reference, "vector \(i)")
        }
        // Removing moves the last code into the hole, bit-exactly.
        _ = list.remove(at: 3, subquantizerCount: m)
        var code = [UInt8](repeating: 0, count: m)
        list.getCode(at: 3, subquantizerCount: m, into: &code)
        #expect(code == allCodes[vectorCount - 1])
        #expect(list.slots[3] == Int32(vectorCount - 1))
    }

    @Test(arguments: [1, 5, 10, 100])
    func topKMatchesSort(k: Int) {
        var rng = SeededGenerator(seed: UInt64(k))
        var top = TopK(capacity: k)
        var all: [(Float, Int64)] = []
        for i in 0..<1000 {
            let d = Float(Int.random(in: 0..<300, using: &rng))  // with ties
            all.append((d, Int64(i)))
            top.insert(d, Int64(i))
        }
        let expected = all.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }.prefix(k).map(\.0)
        #expect(top.sorted().map(\.distance) == Array(expected))
    }

    @Test func kMeansIsSeededAndFillsEveryCluster() {
        let data = SyntheticDataset(count: 2000, queryCount: 0, dimension: 16, seed: 3)
        let kmeans = KMeans(k: 50, dimension: 16, iterations: 5, seed: 9)
        let a = data.base.withUnsafeBufferPointer { kmeans.train($0, count: 2000) }
        let b = data.base.withUnsafeBufferPointer { kmeans.train($0, count: 2000) }
        #expect(a == b)
        var assignment = [Int32](repeating: 0, count: 2000)
        KMeans.assign(data.base, count: 2000, centroids: a, k: 50, dimension: 16, into: &assignment, distances: nil)
        #expect(Set(assignment).count == 50)
    }

    @Test func blasAssignmentMatchesDirectScan() {
        let data = SyntheticDataset(count: 500, queryCount: 0, dimension: 128, seed: 5)
        let centroids = Array(data.base.prefix(40 * 128))
        var assignment = [Int32](repeating: 0, count: 500)
        KMeans.assign(data.base, count: 500, centroids: centroids, k: 40, dimension: 128, into: &assignment, distances: nil)
        var agree = 0
        for i in 0..<500 {
            let direct = data.base.withUnsafeBufferPointer {
                Assigner.nearest($0.baseAddress! + i * 128, centroids, listCount: 40, dimension: 128)
            }
            if direct == Int(assignment[i]) { agree += 1 }
        }
        #expect(agree >= 498)  // float rounding of ‖c‖² − 2x·c may flip exact near-ties
    }
}
