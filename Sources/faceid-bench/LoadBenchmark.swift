import ArgumentParser
import AsyncHTTPClient
import Foundation
import Synchronization
import Histogram
import NIOCore
import NIOHTTP1
import NIOSSL

/// `faceid-bench load`: a running server under load over HTTPS. Enrolls real photos, then runs a search/enroll
/// mix at a concurrency; with `--synthetic-faces N` bulk-imports N generated encodings into one company and
/// measures search latency there with real probe photos. Latencies are client-side (request sent → body read),
/// recorded in HdrHistograms.
struct LoadBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load", abstract: "Load test a running faceid-server: enroll, search/enroll mix, million-face search.")

    @Option(help: "The server; several nodes of one deployment comma-separated (requests go to each in turn).")
    var url: String = "https://127.0.0.1:8443"
    @Option(help: "CA certificate the server's certificate chains to (make run's self-signed one); empty = system roots.")
    var caCert: String = "data/tls/cert.pem"
    @Option(help: "Photos, one folder per identity (LFW's images_deepfunneled).") var photos: String = "../shared/faces/lfw/images_deepfunneled"
    @Option(help: "Identities to enroll (first photo each; only identities with two or more photos).") var enroll: Int = 200
    @Option(help: "Requests in the mixed phase, per run.") var requests: Int = 600
    @Option(help: "Requests in flight.") var concurrency: Int = 8
    @Option(help: "Share of searches in the mix (the rest enrolls another photo of an enrolled person).") var searchShare: Double = 0.9
    @Option(help: "Runs of each measured phase (median and spread are reported).") var runs: Int = 3
    @Option(help: "Encodings to bulk-import into one company (0 = skip the million-face phase).") var syntheticFaces: Int = 0
    @Option(help: ".fvecs with at least --synthetic-faces vectors (gen_faces.py's base.fvecs).") var vectors: String?
    @Option(help: "Probe photos for the synthetic phase (default: the enrolled identities' other photos).") var probes: String?
    @Option(help: "Faces per import request.") var importBatch: Int = 2000
    @Option(help: "Searches per run in the synthetic phase.") var probeRequests: Int = 200
    @Option(help: "The companies' recognition model: sface-2021dec (new companies' default) or dlib-resnet-v1. With sface the synthetic encodings are L2-normalised and imported as sface-2021dec.")
    var model: String = "sface-2021dec"

    func validate() throws {
        guard ["sface-2021dec", "dlib-resnet-v1"].contains(model) else { throw ValidationError("--model: sface-2021dec or dlib-resnet-v1") }
        guard runs >= 1, concurrency >= 1, enroll >= 1, requests >= 1, probeRequests >= 1 else {
            throw ValidationError("--runs, --concurrency, --enroll, --requests and --probe-requests must be at least 1")
        }
    }

    func run() async throws {
        try await ServerClient.with(url: url, caCert: caCert, connections: max(concurrency, 2), measure)
    }

    private func measure(_ server: ServerClient) async throws {
        let identities = try PhotoSet(folder: photos)
        let enrolled = Array(identities.repeated.prefix(enroll))
        guard !enrolled.isEmpty else { throw ValidationError("no identity with two or more photos under \(photos)") }
        var table = "### faceid-bench load (\(url), concurrency \(concurrency), \(model))\n\n"
        table += "| phase | requests | throughput (req/s) | p50 ms | p95 ms | p99 ms | max ms | errors |\n|---|---|---|---|---|---|---|---|\n"

        // 1. Enroll one photo per identity.
        let company = try await server.register("load", model: model)
        let enrollment = try await server.enrollAll(enrolled, token: company, concurrency: concurrency)
        table += enrollment.stats.row("enroll \(enrolled.count) photos")
        progress("enrolled \(enrollment.people.count) people")
        guard !enrollment.people.isEmpty else { throw ValidationError("no photo under \(photos) could be enrolled: \(enrollment.stats.errors)") }

        // 2. The search/enroll mix.
        var mixRuns: [Phase.Stats] = []
        for run in 1...runs {
            let mix = try await server.mix(enrollment.people, strangers: identities.singles, token: company, requests: requests,
                                           concurrency: concurrency, searchShare: searchShare, seed: UInt64(run))
            emitJSON(mix.stats.json(["phase": "mix", "run": run, "search_share": searchShare, "correct_matches": mix.correct,
                                     "searches_of_enrolled": mix.known]))
            progress("mix run \(run): \(mix.stats.summary), \(mix.correct) of \(mix.known) known probes matched correctly")
            mixRuns.append(mix.stats)
        }
        table += Phase.Stats.median(mixRuns).row("search/enroll mix (\(Int(searchShare * 100)) % search), median of \(runs)")
        table += Phase.Stats.spread(mixRuns)

        // 3. A million faces in one company, searched with real probes.
        if syntheticFaces > 0 {
            guard let vectors else { throw ValidationError("--synthetic-faces needs --vectors (gen_faces.py's base.fvecs)") }
            let large = try await server.register("million", model: model)
            let imported = try await server.importSynthetic(vectors, count: syntheticFaces, batch: importBatch, token: large,
                                                            model: model == "sface-2021dec" ? model : nil)
            table += imported.row("import \(syntheticFaces) encodings (\(importBatch) per request)")
            let people = try await server.enrollAll(enrolled, token: large, concurrency: concurrency).people
            let probePhotos = try probes.map { try PhotoSet(folder: $0).all } ?? people.flatMap(\.probes)
            for (label, inFlight) in [("search, 1 in flight", 1), ("search, \(concurrency) in flight", concurrency)] {
                var searchRuns: [Phase.Stats] = []
                for run in 1...runs {
                    let stats = try await server.searchAll(probePhotos, token: large, requests: probeRequests, concurrency: inFlight,
                                                           seed: UInt64(run))
                    emitJSON(stats.json(["phase": "million_search", "faces": syntheticFaces + people.count, "in_flight": inFlight, "run": run]))
                    progress("\(label) run \(run): \(stats.summary)")
                    searchRuns.append(stats)
                }
                table += Phase.Stats.median(searchRuns).row("\(label) against \(syntheticFaces + people.count) faces, median of \(runs)")
                table += Phase.Stats.spread(searchRuns)
            }
        }
        print(table)
    }
}

/// Photos by identity: `<folder>/<identity>/<photo>.jpg|png`, sorted.
struct PhotoSet {
    var byIdentity: [(name: String, paths: [String])]

    init(folder: String) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        byIdentity = names.compactMap { name in
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/" + name)) ?? [])
                .filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted()
            return files.isEmpty ? nil : (name, files.map { folder + "/" + name + "/" + $0 })
        }
        if byIdentity.isEmpty {  // a flat folder of photos
            let files = names.filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }
            byIdentity = files.map { ($0, [folder + "/" + $0]) }
        }
    }

    var repeated: [(name: String, paths: [String])] { byIdentity.filter { $0.paths.count >= 2 } }
    var singles: [String] { byIdentity.filter { $0.paths.count == 1 }.map { $0.paths[0] } }
    var all: [String] { byIdentity.flatMap(\.paths) }
}

/// Latencies and outcomes of one phase.
struct Phase {
    var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    var errors: [Int: Int] = [:]

    mutating func record(microseconds: UInt64, status: Int) {
        histogram.record(microseconds)
        if status >= 400 { errors[status, default: 0] += 1 }
    }

    func stats(seconds: Double) -> Stats {
        func ms(_ p: Double) -> Double { Double(histogram.valueAtPercentile(p)) / 1000 }
        return Stats(count: Int(histogram.totalCount), throughput: Double(histogram.totalCount) / seconds, p50: ms(50), p95: ms(95),
                     p99: ms(99), max: Double(histogram.max) / 1000, errors: errors)
    }

    struct Stats {
        var count: Int
        var throughput: Double
        var p50: Double
        var p95: Double
        var p99: Double
        var max: Double
        var errors: [Int: Int]

        var summary: String {
            "\(count) requests, \(format(throughput)) req/s, p50 \(format(p50)) ms, p95 \(format(p95)) ms, p99 \(format(p99)) ms"
                + (errors.isEmpty ? "" : ", errors \(errors)")
        }

        func json(_ extra: [String: Any]) -> [String: Any] {
            extra.merging(["requests": count, "throughput": throughput, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": max,
                           "errors": errors.map { "\($0.key): \($0.value)" }.joined(separator: ", ")]) { a, _ in a }
        }

        func row(_ label: String) -> String {
            let failed = errors.isEmpty ? "0" : errors.sorted { $0.key < $1.key }.map { "\($0.value) × \($0.key)" }.joined(separator: ", ")
            return "| \(label) | \(count) | \(format(throughput)) | \(format(p50)) | \(format(p95)) | \(format(p99)) | \(format(max)) | \(failed) |\n"
        }

        /// Field-wise medians of several runs.
        static func median(_ runs: [Stats]) -> Stats {
            Stats(count: runs.map(\.count).reduce(0, +) / Swift.max(1, runs.count), throughput: Measure.median(runs.map(\.throughput)),
                  p50: Measure.median(runs.map(\.p50)), p95: Measure.median(runs.map(\.p95)), p99: Measure.median(runs.map(\.p99)),
                  max: runs.map(\.max).max() ?? 0, errors: runs.reduce(into: [:]) { all, run in all.merge(run.errors, uniquingKeysWith: +) })
        }

        /// A table row with each figure's min–max over the runs.
        static func spread(_ runs: [Stats]) -> String {
            func range(_ values: [Double]) -> String { "\(format(values.min() ?? 0))–\(format(values.max() ?? 0))" }
            return "| (spread of the runs) | | \(range(runs.map(\.throughput))) | \(range(runs.map(\.p50))) | \(range(runs.map(\.p95))) | "
                + "\(range(runs.map(\.p99))) | | |\n"
        }
    }
}

/// An enrolled person: id, name and the photos left for probing.
struct EnrolledPerson: Sendable {
    var id: Int64
    var name: String
    var probes: [String]
}

/// The server's JSON API, as the benchmark uses it. Several nodes (`--url a,b,c`) take the requests in turn.
struct ServerClient: Sendable {
    let http: HTTPClient
    let bases: [String]
    private let turn = Turn()

    private final class Turn: Sendable {
        let next = Atomic<Int>(0)
    }

    init(http: HTTPClient, base: String) {
        self.http = http
        bases = base.split(separator: ",").map { String($0) }
    }

    /// The node of the next request, in turn.
    var base: String { bases[turn.next.add(1, ordering: .relaxed).oldValue % bases.count] }

    /// Runs `body` with a client of `url` that trusts `caCert` (empty: the system roots), then shuts it down.
    static func with(url: String, caCert: String, connections: Int, _ body: (ServerClient) async throws -> Void) async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !caCert.isEmpty { tls.trustRoots = .file(caCert) }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await body(ServerClient(http: http, base: url))
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: Data
        var microseconds: UInt64

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        /// The server's own time (`Server-Timing: app;dur=…`), in milliseconds.
        var serverMilliseconds: Double? {
            headers.first(name: "Server-Timing").flatMap { $0.split(separator: "=").last.flatMap { Double($0) } }
        }
    }

    /// A POST with a JSON (or JSON lines) body, timed from sending to the last byte of the answer.
    func call(_ path: String, token: String?, body: Data) async throws -> Reply {
        var headers = ["Content-Type": "application/json"]
        if let token { headers["Authorization"] = "Bearer \(token)" }
        return try await send(.POST, path, headers: headers, body: body)
    }

    func send(_ method: HTTPMethod, _ path: String, headers: [String: String], body: Data? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let start = Measure.now()
        let response = try await http.execute(request, timeout: .seconds(600))
        let bytes = try await response.body.collect(upTo: 256 << 20)
        let elapsed = (Measure.now() - start) / 1000
        return Reply(status: Int(response.status.code), headers: response.headers, body: Data(bytes.readableBytesView), microseconds: elapsed)
    }

    func post(_ path: String, token: String?, _ object: [String: Any]) async throws -> Reply {
        try await call(path, token: token, body: try JSONSerialization.data(withJSONObject: object))
    }

    /// A new company; its owner's session token.
    func register(_ label: String, model: String) async throws -> String {
        let token = try await register(label)
        let reply = try await send(.PATCH, "/settings", headers: ["Content-Type": "application/json", "Authorization": "Bearer \(token)"],
                                   body: try JSONSerialization.data(withJSONObject: ["recognition_model": model]))
        guard reply.status == 200 else { throw ValidationError("settings: HTTP \(reply.status) \(reply.json)") }
        return token
    }

    func register(_ label: String) async throws -> String {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let reply = try await post("/register", token: nil, [
            "company_name": "bench \(label) \(suffix)", "email": "bench-\(label)-\(suffix)@example.com",
            "password": "bench-\(UUID().uuidString)",
        ])
        guard reply.status == 201, let token = reply.json["token"] as? String else {
            throw ValidationError("register failed: HTTP \(reply.status) \(reply.json)")
        }
        return token
    }

    static func photo(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        return data.base64EncodedString()
    }

    /// Enrolls each identity's first photo (new person, allow_duplicate: look-alikes are not the point here).
    func enrollAll(_ identities: [(name: String, paths: [String])], token: String, concurrency: Int) async throws
        -> (people: [EnrolledPerson], stats: Phase.Stats) {
        var phase = Phase()
        var people: [EnrolledPerson] = []
        let start = Measure.now()
        try await forEach(Array(identities.enumerated()), concurrency: concurrency) { item in
            let reply = try await post("/face/enroll", token: token, [
                "full_name": item.element.name, "external_id": "bench-\(item.offset)", "allow_duplicate": true,
                "image": try Self.photo(item.element.paths[0]),
            ])
            let id = ((reply.json["person"] as? [String: Any])?["id"] as? NSNumber)?.int64Value
            return (reply, id.map { EnrolledPerson(id: $0, name: item.element.name, probes: Array(item.element.paths.dropFirst())) })
        } collect: { (reply: Reply, person: EnrolledPerson?) in
            phase.record(microseconds: reply.microseconds, status: reply.status)
            if let person { people.append(person) }
        }
        return (people, phase.stats(seconds: Double(Measure.now() - start) / 1e9))
    }

    /// `requests` operations: searches with a known person's other photo (or a stranger's, one in ten), the rest
    /// enrolls of another photo of a known person.
    func mix(_ people: [EnrolledPerson], strangers: [String], token: String, requests: Int, concurrency: Int, searchShare: Double,
             seed: UInt64) async throws -> (stats: Phase.Stats, correct: Int, known: Int) {
        var random = SeededRandom(seed: seed)
        let plan: [(search: Bool, person: EnrolledPerson?, path: String)] = (0..<requests).map { _ in
            let person = people[Int(random.next() % UInt64(people.count))]
            let photo = person.probes[Int(random.next() % UInt64(person.probes.count))]
            if Double(random.next() % 1000) / 1000 < searchShare {
                if !strangers.isEmpty, random.next() % 10 == 0 { return (true, nil, strangers[Int(random.next() % UInt64(strangers.count))]) }
                return (true, person, photo)
            }
            return (false, person, photo)
        }
        var phase = Phase()
        var correct = 0, known = 0
        let start = Measure.now()
        try await forEach(plan, concurrency: concurrency) { step in
            let image = try Self.photo(step.path)
            // A time clock has one person in front of it: the largest face (YuNet also finds LFW's bystanders).
            if step.search {
                return (try await post("/face/search", token: token, ["image": image, "location": "bench", "faces": "largest"]), step)
            }
            return (try await post("/face/enroll", token: token, [
                "person_id": step.person!.id, "image": image, "select": "largest", "allow_duplicate": true,
            ]), step)
        } collect: { (reply: Reply, step: (search: Bool, person: EnrolledPerson?, path: String)) in
            // A photo the detector finds no face in is a client outcome (422 no_face), not a server error.
            phase.record(microseconds: reply.microseconds, status: reply.status == 422 ? 200 : reply.status)
            if step.search, let person = step.person {
                known += 1
                let candidate = ((reply.json["faces"] as? [[String: Any]])?.first?["candidates"] as? [[String: Any]])?.first
                let id = ((candidate?["person"] as? [String: Any])?["id"] as? NSNumber)?.int64Value
                if reply.json["decision"] as? String == "match", id == person.id { correct += 1 }
            }
        }
        return (phase.stats(seconds: Double(Measure.now() - start) / 1e9), correct, known)
    }

    /// Bulk-imports `count` vectors as JSON lines, `batch` per request, two requests in flight.
    /// Imports `count` encodings of the .fvecs file; with `model`, each is L2-normalised and imported as that model's.
    func importSynthetic(_ path: String, count: Int, batch: Int, token: String, model: String? = nil) async throws -> Phase.Stats {
        var (read, dimension) = try VectorFiles.readFvecs(path, limit: count)
        if model != nil {
            for i in 0..<(read.count / max(1, dimension)) {
                let range = i * dimension..<(i + 1) * dimension
                let norm = read[range].reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
                for j in range { read[j] /= norm }
            }
        }
        let values = read
        let modelField = model.map { ",\"model\":\"\($0)\"" } ?? ""
        guard dimension == 128, values.count == count * 128 else {
            throw ValidationError("\(path): expected \(count) vectors of 128 (has \(values.count / max(1, dimension)) of \(dimension))")
        }
        var phase = Phase()
        let start = Measure.now()
        let starts: [Int] = Array(stride(from: 0, to: count, by: batch))
        try await forEach(starts, concurrency: 2) { (first: Int) in
            var body = ""
            body.reserveCapacity(batch * 1400)
            for i in first..<min(first + batch, count) {
                body += "{\"external_id\":\"syn-\(i)\",\"encoding\":["
                body += values[i * 128..<(i + 1) * 128].map { String($0) }.joined(separator: ",")
                body += "]" + modelField + "}\n"
            }
            return try await call("/faces/import", token: token, body: Data(body.utf8))
        } collect: { (reply: Reply) in
            phase.record(microseconds: reply.microseconds, status: reply.status)
            if reply.status != 201 { progress("import: HTTP \(reply.status) \(reply.json)") }
            let done = Int(phase.histogram.totalCount) * batch
            if done % (batch * 25) == 0 { progress("imported \(min(done, count)) of \(count)") }
        }
        let stats = phase.stats(seconds: Double(Measure.now() - start) / 1e9)
        emitJSON(stats.json(["phase": "import", "faces": count, "batch": batch,
                             "faces_per_s": Double(count) / (Double(Measure.now() - start) / 1e9)]))
        return stats
    }

    func searchAll(_ probes: [String], token: String, requests: Int, concurrency: Int, seed: UInt64) async throws -> Phase.Stats {
        var random = SeededRandom(seed: seed)
        let plan = (0..<requests).map { _ in probes[Int(random.next() % UInt64(probes.count))] }
        var phase = Phase()
        let start = Measure.now()
        try await forEach(plan, concurrency: concurrency) { path in
            try await post("/face/search", token: token, ["image": try Self.photo(path), "location": "bench", "faces": "largest"])
        } collect: { (reply: Reply) in
            phase.record(microseconds: reply.microseconds, status: reply.status)
        }
        return phase.stats(seconds: Double(Measure.now() - start) / 1e9)
    }

    /// Runs `work` over `items` with at most `concurrency` in flight; `collect` sees each result on this task.
    func forEach<Item: Sendable, Result: Sendable>(
        _ items: [Item], concurrency: Int, _ work: @escaping @Sendable (Item) async throws -> Result, collect: (Result) -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Result.self) { group in
            var next = 0
            while next < min(concurrency, items.count) {
                let item = items[next]
                group.addTask { try await work(item) }
                next += 1
            }
            while let result = try await group.next() {
                collect(result)
                if next < items.count {
                    let item = items[next]
                    group.addTask { try await work(item) }
                    next += 1
                }
            }
        }
    }
}

/// SplitMix64: the same plan for the same seed.
struct SeededRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
