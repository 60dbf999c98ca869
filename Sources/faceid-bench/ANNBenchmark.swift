import Crypto
import ArgumentParser
import Foundation
import Synchronization
import VectorIndex

/// `faceid-bench ann`: builds each configured index over a base set, then sweeps probe and
/// re-rank counts, reporting recall against exact search, single-thread QPS with one query per
/// call, batch QPS and latency percentiles, plus build, mutation, reopen, memory and disk costs.
struct ANNBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ann", abstract: "Vector index benchmark on .fvecs data (face1m) or a seeded synthetic set.")

    @Option(help: "Base vectors (.fvecs).") var base: String?
    @Option(help: "Query vectors (.fvecs).") var query: String?
    @Option(help: "Ground truth (.ivecs); computed with exact search when absent.") var gt: String?
    @Option(help: "Where to write computed ground truth (.ivecs) for later runs.") var gtOut: String?
    @Option(help: "Use a seeded synthetic set of this many base vectors instead of files.") var synthetic: Int?
    @Option(help: "Use only the first N base vectors.") var limit: Int?
    @Option(help: "Use only the first N queries.") var queries: Int = 1000
    @Option(help: "Index to build, FAISS-style (Flat, IVF1024,Flat, IVF4096,PQ64); repeatable.") var index: [String] = ["IVF4096,PQ64"]
    @Option(help: "Probe counts to sweep, comma-separated.") var probes: String = "8,16,32,64,128"
    @Option(help: "Re-rank counts to sweep for IVF-PQ, comma-separated.") var rerank: String = "100,200,400"
    @Option(help: "Timed passes over the queries per sweep point (median and spread are reported).") var runs: Int = 3
    @Option(help: "Threads for training and batch search.") var threads: Int = 2
    @Option(help: "Directory for the LMDB environments (removed and recreated).") var dataDir: String = "/tmp/faceid-bench-ann"
    @Option(help: "Single-id mutations timed per kind (insert, delete, update).") var mutations: Int = 1000
    @Option(help: "Concurrent callers making single-id calls for the group-commit figures.") var callers: Int = 8
    @Option(help: "Write the Markdown table here as well as to stdout.") var markdown: String?
    @Option(help: "k-means iterations for the coarse quantizer.") var kmeansIterations: Int = 10
    @Option(help: "k-means training points per list.") var samplesPerList: Int = 64
    @Flag(help: "Skip the exact-search baseline (needs --gt); for profiling the index alone.") var skipExact = false
    @Flag(help: "Reuse indexes already built in --data-dir by an earlier run (skips bulk add and training).") var reuse = false
    @Option(help: "LMDB commit durability: full, nometasync or nosync.") var durability: String = "nometasync"
    @Option(help: "Where IVF-PQ keeps the vectors it re-ranks with: map (read per candidate) or memory.") var vectors: String = "map"
    @Flag(help: "Seal every record with AES-256-GCM, as the server does.") var sealed = false

    private var residence: VectorResidence { vectors == "memory" ? .memory : .map }
    private static let sealer = BenchSealer()

    private func openDatabase(_ dir: String) throws -> VectorDatabase {
        try VectorDatabase(path: dir, sealer: sealed ? Self.sealer : nil, mapSize: 1 << 30, durability: lmdbDurability,
                           ivfPQVectors: residence)
    }

    private var lmdbDurability: LMDBEnvironment.Durability {
        switch durability {
        case "full": .full
        case "nosync": .noSync
        default: .noMetaSync
        }
    }

    func run() throws {
        let (baseSet, querySet, dimension) = try loadData()
        let n = baseSet.count / dimension, nq = querySet.count / dimension
        progress("data: \(n) base, \(nq) queries, dimension \(dimension)")
        let queryVectors = (0..<nq).map { Array(querySet[($0 * dimension)..<(($0 + 1) * dimension)]) }
        if !reuse { try? FileManager.default.removeItem(atPath: dataDir) }

        var truth: [[UInt64]] = []
        var exactMS1 = Double.nan, exactMS2 = Double.nan
        if skipExact {
            guard gt != nil else { throw ValidationError("--skip-exact needs --gt") }
            let (values, d) = try VectorFiles.readIvecs(gt!, limit: nq)
            truth = (0..<nq).map { i in (0..<min(10, d)).map { UInt64(values[i * d + $0]) } }
        } else {
            (truth, exactMS1, exactMS2) = try exactBaseline(baseSet, queryVectors, dimension: dimension)
        }

        var rows: [String] = []
        for factory in index {
            guard let kind = IndexKind(factoryString: factory) else { throw ValidationError("unknown index \(factory)") }
            rows += try benchmark(kind: kind, baseSet: baseSet, dimension: dimension, queries: queryVectors,
                                  truth: truth, exactMS: exactMS1)
        }
        var table = """
            Exact search (k = 10, \(n) vectors): \(format(exactMS1, 2)) ms/query on 1 thread, \(format(exactMS2, 2)) ms on 2 threads.

            | index | probes | rerank | recall@1 | recall@10 | QPS (1 thread, median [min–max]) | p50 ms | p99 ms | batch QPS (\(threads) threads) | vs exact |
            |---|---|---|---|---|---|---|---|---|---|

            """
        table += rows.joined(separator: "\n") + "\n"
        print(table)
        if let markdown { try table.write(toFile: markdown, atomically: true, encoding: .utf8) }
    }

    /// Exact baseline: ground truth and the cost of exact search on 1 and 2 threads.
    private func exactBaseline(_ baseSet: [Float], _ queryVectors: [[Float]], dimension: Int) throws -> ([[UInt64]], Double, Double) {
        let n = baseSet.count / dimension, nq = queryVectors.count
        let flatDir = dataDir + "/flat"
        let flatDB = try VectorDatabase(path: flatDir, mapSize: 1 << 30, durability: lmdbDurability)
        try? flatDB.dropCollection("flat")
        let flat = try flatDB.createCollection("flat", dimension: dimension)
        try bulkAdd(flat, baseSet, dimension: dimension)
        var exactTimes: [Int: [Double]] = [:]
        for t in [1, 2] {
            let sample = min(nq, 100)
            exactTimes[t] = try (0..<sample).map { i in
                try Measure.seconds { _ = try flat.search(queryVectors[i], options: SearchOptions(k: 10, exact: true, threads: t)) } * 1000
            }
        }
        let exactMS1 = Measure.median(exactTimes[1]!), exactMS2 = Measure.median(exactTimes[2]!)
        // The same bytes read plainly, in this run: the bandwidth an exact scan is measured against.
        let (read1, read2) = baseSet.withUnsafeBufferPointer { (Measure.memoryReadMS($0, threads: 1), Measure.memoryReadMS($0, threads: 2)) }
        emitJSON(["kind": "exact", "n": n, "ms_per_query_1_thread": exactMS1, "ms_per_query_2_threads": exactMS2,
                  "p99_ms_1_thread": Measure.quantile(exactTimes[1]!, 0.99), "memory_read_ms_1_thread": read1,
                  "memory_read_ms_2_threads": read2])
        progress("exact search: \(format(exactMS1, 2)) ms (1 thread), \(format(exactMS2, 2)) ms (2 threads); a plain read of the "
                 + "same \((baseSet.count * 4) >> 20) MiB: \(format(read1, 2)) ms (1 thread), \(format(read2, 2)) ms (2 threads)")
        let truth = try groundTruth(flat, queryVectors, n: n)
        try flatDB.dropCollection("flat")
        try? FileManager.default.removeItem(atPath: flatDir)
        return (truth, exactMS1, exactMS2)
    }

    // MARK: - Steps

    private func loadData() throws -> ([Float], [Float], Int) {
        if let synthetic {
            let data = SyntheticDataset(count: synthetic, queryCount: queries, seed: 20240611)
            return (data.base, data.queries, data.dimension)
        }
        guard let base, let query else { throw ValidationError("give --base and --query, or --synthetic N") }
        let (b, d) = try VectorFiles.readFvecs(base, limit: limit ?? .max)
        let (q, dq) = try VectorFiles.readFvecs(query, limit: queries)
        guard d == dq else { throw ValidationError("base dimension \(d), query dimension \(dq)") }
        return (b, q, d)
    }

    private func bulkAdd(_ c: VectorCollection, _ base: [Float], dimension: Int) throws {
        let n = base.count / dimension, batch = 10_000
        var start = 0
        while start < n {
            let end = min(n, start + batch)
            try c.add(ids: (start..<end).map { UInt64($0) },
                      vectors: (start..<end).map { Array(base[($0 * dimension)..<(($0 + 1) * dimension)]) })
            start = end
        }
    }

    private func groundTruth(_ flat: VectorCollection, _ queries: [[Float]], n: Int) throws -> [[UInt64]] {
        if let gt {
            let (values, d) = try VectorFiles.readIvecs(gt, limit: queries.count)
            return (0..<queries.count).map { i in (0..<min(10, d)).map { UInt64(values[i * d + $0]) } }
        }
        progress("ground truth: exact search of \(queries.count) queries")
        let results = try flat.search(batch: queries, options: SearchOptions(k: 10, exact: true), threads: threads)
        let truth = results.map { $0.map(\.id) }
        if let gtOut {
            try VectorFiles.writeIvecs(gtOut, truth.flatMap { $0.map { Int32($0) } }, dimension: 10)
        }
        return truth
    }

    private func benchmark(kind: IndexKind, baseSet: [Float], dimension: Int, queries: [[Float]],
                           truth: [[UInt64]], exactMS: Double) throws -> [String] {
        let n = baseSet.count / dimension
        let dir = dataDir + "/\(kind)\(sealed ? "-sealed" : "")".replacingOccurrences(of: ",", with: "_")
        var rssBefore = Measure.residentBytes()
        var addSeconds = 0.0, trainSeconds = 0.0
        let built = reuse && (try? openDatabase(dir).collection("bench").kind) == kind
        if !built {
            try? FileManager.default.removeItem(atPath: dir)
            let db = try openDatabase(dir)
            let c = try db.createCollection("bench", dimension: dimension)
            addSeconds = try Measure.seconds { try bulkAdd(c, baseSet, dimension: dimension) }
            progress("\(kind): bulk add \(format(addSeconds, 2)) s (\(format(Double(n) / addSeconds, 0)) vectors/s)")
            if kind != .flat {
                trainSeconds = try Measure.seconds { try c.train(kind: kind, parameters: TrainingParameters(
                    iterations: kmeansIterations, samplesPerList: samplesPerList, threads: threads)) }
                progress("\(kind): train + encode + persist \(format(trainSeconds, 2)) s")
            }
        }
        // Reopen: what a restart costs; the collection is loaded from LMDB, never retrained.
        rssBefore = Measure.residentBytes()
        let heapBefore = Measure.heapBytes()
        var db: VectorDatabase? = nil
        var collection: VectorCollection? = nil
        let reopenSeconds = try Measure.seconds {
            db = try openDatabase(dir)
            collection = try db!.collection("bench")
        }
        let c = collection!
        let rss = Measure.residentBytes() - rssBefore
        let heap = Measure.heapBytes() - heapBefore
        let disk = Measure.diskBytes(dir)
        progress("\(kind): reopen \(format(reopenSeconds * 1000, 0)) ms, +\(heap >> 20) MiB heap, +\(rss >> 20) MiB resident, "
                 + "\(disk >> 20) MiB on disk")
        emitJSON(["kind": "build", "index": "\(kind)", "vectors": vectors, "sealed": sealed, "n": n, "bulk_add_s": addSeconds, "add_per_s": Double(n) / addSeconds,
                  "train_s": trainSeconds, "reopen_s": reopenSeconds, "heap_mib_after_reopen": heap >> 20,
                  "resident_mib_after_reopen": rss >> 20, "disk_mib": disk >> 20])

        var rows: [String] = []
        let rerankCounts = kind.isPQ ? rerank.split(separator: ",").compactMap { Int($0) } : [0]
        let probeCounts = kind == .flat ? [1] : probes.split(separator: ",").compactMap { Int($0) }
        for p in probeCounts {
            for r in rerankCounts {
                let options = SearchOptions(k: 10, probeCount: p, rerankCount: r)
                var qpsRuns: [Double] = [], latencies: [Double] = []
                var results: [[SearchResult]] = []
                for run in 0..<runs {
                    var runLatencies: [Double] = []
                    runLatencies.reserveCapacity(queries.count)
                    var out: [[SearchResult]] = []
                    let total = try Measure.seconds {
                        for q in queries {
                            let start = Measure.now()
                            out.append(try c.search(q, options: options))
                            runLatencies.append(Double(Measure.now() - start) / 1e6)
                        }
                    }
                    qpsRuns.append(Double(queries.count) / total)
                    latencies += runLatencies
                    if run == 0 { results = out }
                }
                let batchSeconds = try Measure.seconds { _ = try c.search(batch: queries, options: options, threads: threads) }
                let (r1, r10) = recall(results, truth)
                let qps = Measure.median(qpsRuns)
                let p50 = Measure.quantile(latencies, 0.5), p99 = Measure.quantile(latencies, 0.99)
                emitJSON(["kind": "search", "index": "\(kind)", "vectors": vectors, "sealed": sealed, "probes": p, "rerank": r, "recall_at_1": r1, "recall_at_10": r10,
                          "qps_median": qps, "qps_min": qpsRuns.min()!, "qps_max": qpsRuns.max()!, "p50_ms": p50, "p99_ms": p99,
                          "batch_qps": Double(queries.count) / batchSeconds, "runs": runs])
                progress("\(kind) probes \(p) rerank \(r): recall@10 \(format(r10, 3)), \(format(qps, 0)) QPS, p99 \(format(p99, 3)) ms")
                rows.append("| \(kind) | \(kind == .flat ? "–" : "\(p)") | \(kind.isPQ ? "\(r)" : "–") | \(format(r1, 3)) | \(format(r10, 3)) | "
                            + "\(format(qps, 0)) [\(format(qpsRuns.min()!, 0))–\(format(qpsRuns.max()!, 0))] | \(format(p50, 3)) | "
                            + "\(format(p99, 3)) | \(format(Double(queries.count) / batchSeconds, 0)) | \(format(exactMS * qps / 1000, 1))× |")
            }
        }
        try mutationCosts(c, kind: kind, baseSet: baseSet, dimension: dimension)
        return rows
    }

    /// Single-id insert, delete and update, each its own LMDB transaction and visible to the
    /// next search when the call returns.
    private func mutationCosts(_ c: VectorCollection, kind: IndexKind, baseSet: [Float], dimension: Int) throws {
        let n = baseSet.count / dimension, m = min(mutations, n / 2)
        guard m > 0 else { return }
        func vector(_ i: Int) -> [Float] { Array(baseSet[(i * dimension)..<((i + 1) * dimension)]) }
        let deleteUS = try Measure.seconds { for i in 0..<m { try c.remove(ids: [UInt64(i)]) } } / Double(m) * 1e6
        let insertUS = try Measure.seconds { for i in 0..<m { try c.add(id: UInt64(i), vector: vector(i)) } } / Double(m) * 1e6
        let updateUS = try Measure.seconds { for i in 0..<m { try c.update(id: UInt64(i), vector: vector(n - 1 - i)) } } / Double(m) * 1e6
        let deleteBatchUS = try Measure.seconds { try c.remove(ids: (0..<m).map { UInt64($0) }) } / Double(m) * 1e6
        try c.add(ids: (0..<m).map { UInt64($0) }, vectors: (0..<m).map(vector))  // leave the collection as built
        // The same single-id calls from `callers` threads at once: group commit shares each LMDB commit among them.
        func concurrently(_ body: @escaping @Sendable (Int) throws -> Void) throws -> Double {
            let failure = Mutex<(any Error)?>(nil)
            // Threads of their own: `concurrentPerform` would run only as many callers as there are cores.
            let finished = DispatchGroup()
            let callers = callers
            let seconds = Measure.seconds {
                for t in 0..<callers {
                    finished.enter()
                    Thread {
                        for i in stride(from: t, to: m, by: callers) {
                            do { try body(i) } catch { failure.withLock { $0 = error } }
                        }
                        finished.leave()
                    }.start()
                }
                finished.wait()
            }
            if let error = failure.withLock({ $0 }) { throw error }
            return seconds / Double(m) * 1e6
        }
        let base = baseSet
        let groupDeleteUS = try concurrently { i in try c.remove(ids: [UInt64(i)]) }
        let groupInsertUS = try concurrently { i in try c.add(id: UInt64(i), vector: Array(base[(i * dimension)..<((i + 1) * dimension)])) }
        let groupUpdateUS = try concurrently { i in
            try c.update(id: UInt64(i), vector: Array(base[((n - 1 - i) * dimension)..<((n - i) * dimension)]))
        }
        try c.apply((0..<m).map { .update(id: UInt64($0), vector: vector($0)) })  // leave the collection as built
        emitJSON(["kind": "mutations", "index": "\(kind)", "durability": durability, "count": m, "insert_us": insertUS, "delete_us": deleteUS,
                  "update_us": updateUS, "delete_batched_us": deleteBatchUS, "callers": callers, "group_insert_us": groupInsertUS,
                  "group_delete_us": groupDeleteUS, "group_update_us": groupUpdateUS])
        progress("\(kind): per id insert \(format(insertUS)) µs, delete \(format(deleteUS)) µs, update \(format(updateUS)) µs, "
                 + "batched delete \(format(deleteBatchUS, 2)) µs (LMDB durability \(durability)); from \(callers) callers at once: "
                 + "insert \(format(groupInsertUS)) µs, delete \(format(groupDeleteUS)) µs, update \(format(groupUpdateUS)) µs per id")
    }

    private func recall(_ results: [[SearchResult]], _ truth: [[UInt64]]) -> (Double, Double) {
        var hits1 = 0, hits10 = 0
        for (r, t) in zip(results, truth) {
            if let first = r.first, first.id == t[0] { hits1 += 1 }
            let exact = Set(t.prefix(10))
            hits10 += r.prefix(10).filter { exact.contains($0.id) }.count
        }
        return (Double(hits1) / Double(truth.count), Double(hits10) / Double(10 * truth.count))
    }
}

extension IndexKind {
    var isPQ: Bool {
        if case .ivfPQ = self { return true }
        return false
    }
}

/// AES-256-GCM with a fresh random key and the record's context as associated data: the construction of the server's
/// `IndexSealer` (whose key comes from the master key), so sealed figures cost what the server pays.
struct BenchSealer: VectorSealer {
    let key = SymmetricKey(size: .bits256)

    func seal(_ plaintext: [UInt8], context: [UInt8]) throws -> [UInt8] {
        [UInt8](try AES.GCM.seal(plaintext, using: key, authenticating: context).combined!)
    }

    func open(_ sealed: [UInt8], context: [UInt8]) throws -> [UInt8] {
        [UInt8](try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: context))
    }
}
