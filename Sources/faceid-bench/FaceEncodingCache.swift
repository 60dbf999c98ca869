import FaceEngine
import Foundation

/// One recognition model as the benchmarks drive it: an image in, its faces (box, score, detector, descriptor) out.
struct BenchModel: Sendable {
    /// `dlib-resnet-v1` or `sface-2021dec`, and the variant's options, for the tables.
    var variant: String
    /// Calls that can run at once.
    var poolSize: Int
    var analyze: @Sendable (Data) async throws -> (width: Int, height: Int, faces: [FaceEncodingCache.Face])

    /// dlib through `FaceEngine` with `options`.
    static func dlib(_ engine: FaceEngine, _ options: AnalyzeOptions, variant: String) -> BenchModel {
        BenchModel(variant: variant, poolSize: engine.poolSize) { data in
            let a = try await engine.analyze(imageData: data, options: options)
            return (a.width, a.height, a.faces.map {
                FaceEncodingCache.Face(box: [$0.box.left, $0.box.top, $0.box.right, $0.box.bottom], score: $0.score,
                                       detector: $0.detector.rawValue, descriptor: $0.descriptor)
            })
        }
    }

    /// YuNet + SFace through `SFaceEngine` (boxes rounded to whole pixels, clipped to the image).
    static func sface(_ engine: SFaceEngine) -> BenchModel {
        BenchModel(variant: SFaceEngine.modelID, poolSize: engine.poolSize) { data in
            let a = try await engine.analyze(imageData: data)
            return (a.width, a.height, a.faces.map { face in
                let box = [Int(face.x.rounded()), Int(face.y.rounded()), Int((face.x + face.width).rounded()),
                           Int((face.y + face.height).rounded())]
                let clipped = [max(0, box[0]), max(0, box[1]), min(a.width, box[2]), min(a.height, box[3])]
                return FaceEncodingCache.Face(box: clipped, score: Double(face.score), detector: "yunet", descriptor: face.embedding)
            })
        }
    }
}

/// Runs a model over many images with the whole pool busy, caching every result as a JSON
/// line (`--cache`) so a later run reuses them.
struct FaceEncodingCache {
    struct Entry: Codable {
        var path: String
        var width: Int
        var height: Int
        var faces: [Face]
        var error: String?
        var milliseconds: Double
    }

    struct Face: Codable {
        var box: [Int]  // left, top, right, bottom
        var score: Double
        var detector: String
        var descriptor: [Float]
    }

    let model: BenchModel
    let root: String
    let cachePath: String?

    /// Encodes every path (relative to `root`), reading what the cache already has.
    func encode(_ paths: [String]) async throws -> [String: Entry] {
        var entries: [String: Entry] = [:]
        if let cachePath, let text = try? String(contentsOfFile: cachePath, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                if let e = try? JSONDecoder().decode(Entry.self, from: Data(line.utf8)) { entries[e.path] = e }
            }
        }
        let todo = paths.filter { entries[$0] == nil }
        progress("encoding \(todo.count) images (\(paths.count - todo.count) cached) with \(model.poolSize) engines")
        let handle: FileHandle? = cachePath.flatMap { path in
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            let h = FileHandle(forWritingAtPath: path)
            h?.seekToEndOfFile()
            return h
        }
        defer { try? handle?.close() }
        let encoder = JSONEncoder()
        var done = 0
        let start = Date()
        try await withThrowingTaskGroup(of: Entry.self) { group in
            var next = 0
            func submit() {
                guard next < todo.count else { return }
                let path = todo[next]
                next += 1
                group.addTask { await self.encodeOne(path) }
            }
            for _ in 0..<(model.poolSize * 2) { submit() }
            while let entry = try await group.next() {
                entries[entry.path] = entry
                if let handle, let line = try? encoder.encode(entry) { handle.write(line + Data("\n".utf8)) }
                done += 1
                if done % 500 == 0 {
                    progress("  \(done)/\(todo.count) (\(format(Double(done) / Date().timeIntervalSince(start), 1)) images/s)")
                }
                submit()
            }
        }
        return entries
    }

    private func encodeOne(_ path: String) async -> Entry {
        let start = Measure.now()
        guard let data = FileManager.default.contents(atPath: root + "/" + path) else {
            return Entry(path: path, width: 0, height: 0, faces: [], error: "unreadable", milliseconds: 0)
        }
        do {
            let a = try await model.analyze(data)
            let ms = Double(Measure.now() - start) / 1e6
            return Entry(path: path, width: a.width, height: a.height, faces: a.faces, error: nil, milliseconds: ms)
        } catch let error as FaceEngineError {
            return Entry(path: path, width: 0, height: 0, faces: [], error: error.code, milliseconds: 0)
        } catch {
            return Entry(path: path, width: 0, height: 0, faces: [], error: "\(error)", milliseconds: 0)
        }
    }
}

extension FaceEncodingCache.Entry {
    /// The descriptor of the face nearest the image centre (LFW's subject), if any.
    var centralDescriptor: [Float]? {
        faces.min { a, b in
            centreDistance(a.box) < centreDistance(b.box)
        }?.descriptor
    }

    /// The descriptor of the largest face, if any (the subject of a photo that is not a centred crop).
    var largestDescriptor: [Float]? {
        faces.max { ($0.box[2] - $0.box[0]) * ($0.box[3] - $0.box[1]) < ($1.box[2] - $1.box[0]) * ($1.box[3] - $1.box[1]) }?.descriptor
    }

    private func centreDistance(_ box: [Int]) -> Double {
        let cx = Double(box[0] + box[2]) / 2 - Double(width) / 2, cy = Double(box[1] + box[3]) / 2 - Double(height) / 2
        return cx * cx + cy * cy
    }
}

func euclidean(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
}
