import Benchmark
import Foundation
import VectorIndex

/// Search on 100,000 seeded face-like vectors: exact scan (the baseline) against IVF-PQ at
/// three probe counts, in one run so the ratios compare like with like.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal],
                                           maxDuration: .seconds(3), maxIterations: 100_000)

    let data = SyntheticDataset(count: 100_000, queryCount: 256, seed: 20240611)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faceid-microbench-\(getpid())").path
    let database = try! VectorDatabase(path: directory, durability: .noSync)
    let collection = try! database.createCollection("bench", dimension: data.dimension)
    try! collection.add(ids: (0..<data.count).map { UInt64($0) }, vectors: (0..<data.count).map(data.vector))
    let queries = (0..<data.queryCount).map(data.query)

    Benchmark("exact search, 100k") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(try collection.search(queries[i % queries.count], options: SearchOptions(k: 10, exact: true)))
        }
    }

    try! collection.train(kind: .ivfPQ(listCount: 1024, subquantizerCount: 64, bits: 4),
                          parameters: TrainingParameters(threads: 2))
    for probes in [16, 64, 128] {
        Benchmark("IVF1024,PQ64 search, 100k, \(probes) probes") { benchmark in
            for i in benchmark.scaledIterations {
                blackHole(try collection.search(queries[i % queries.count],
                                                options: SearchOptions(k: 10, probeCount: probes, rerankCount: 200)))
            }
        }
    }

    Benchmark("remove + re-add one id (NOSYNC)") { benchmark in
        for i in benchmark.scaledIterations {
            let id = UInt64(i % data.count)
            let vector = collection.vector(for: id)!
            try collection.remove(ids: [id])
            try collection.add(id: id, vector: vector)
        }
    }
}
