import FaceEngine
import Foundation
import Testing

/// The SFace pipeline (YuNet + SFace through OpenCV 4.6) on real photos.
@Suite struct SFaceEngineTests {
    /// dlib's johns: five people, eleven 150×150 photos each. With the first photo of each enrolled, every other photo's
    /// nearest enrolled embedding is its own person's.
    @Test func everyJohnIsNearestToHimself() async throws {
        guard let faces = Fixtures.sharedFaces else {
            print("skipped: ../shared/faces is absent (set FACEID_FACES_DIR)")
            return
        }
        let root = faces + "/dlib/examples/johns"
        let people = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        try #require(people.count == 5)
        var enrolled: [(String, [Float])] = []
        var probes: [(String, [Float])] = []
        for person in people {
            let files = try FileManager.default.contentsOfDirectory(atPath: root + "/" + person).filter { $0.hasSuffix(".jpg") }.sorted()
            for (index, file) in files.enumerated() {
                let analysis = try await Fixtures.sface.analyze(imageData: try Fixtures.data(root + "/" + person + "/" + file))
                let face = try #require(analysis.largestFace, "\(person)/\(file): no face")
                #expect(face.embedding.count == 128)
                #expect(abs(face.embedding.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4, "not unit length")
                if index == 0 { enrolled.append((person, face.embedding)) } else { probes.append((person, face.embedding)) }
            }
        }
        #expect(probes.count == 50)
        for (person, embedding) in probes {
            let nearest = enrolled.min { Fixtures.distance($0.1, embedding) < Fixtures.distance($1.1, embedding) }!
            #expect(nearest.0 == person, "a photo of \(person) is nearest to \(nearest.0)")
        }
    }

    /// The same decoding rules as the dlib engine: every undecodable file of badinput/ is the same typed error, and
    /// what decodes gives an answer rather than a crash.
    @Test func badInputsAreTheSameErrorsAsUnderDlib() async throws {
        guard let faces = Fixtures.sharedFaces else {
            print("skipped: ../shared/faces is absent (set FACEID_FACES_DIR)")
            return
        }
        let dir = faces + "/badinput"
        for (file, outcome) in SharedFacesTests.badInputOutcomes.sorted(by: { $0.key < $1.key }) where Int(outcome) == nil {
            do {
                _ = try await Fixtures.sface.analyze(imageData: try Fixtures.data(dir + "/" + file))
                Issue.record("\(file): decoded, expected \(outcome)")
            } catch let error as FaceEngineError {
                #expect(error.code == outcome, "\(file)")
            }
        }
        for (file, outcome) in SharedFacesTests.badInputOutcomes.sorted(by: { $0.key < $1.key }) where Int(outcome) != nil {
            let analysis = try await Fixtures.sface.analyze(imageData: try Fixtures.data(dir + "/" + file))
            #expect(analysis.width > 0 && analysis.height > 0, "\(file)")
        }
    }

    /// Our C++ pipeline against OpenCV-Python 4.6 on the same converted models (`scripts/sface-reference.sh` writes
    /// `.build/sface_reference.jsonl`): the same largest face, boxes and landmarks within 0.01 px, embeddings within 1e-4.
    @Test func embeddingsMatchOpenCVPython() async throws {
        let path = ProcessInfo.processInfo.environment["FACEID_SFACE_REFERENCE"] ?? Fixtures.packageRoot + "/.build/sface_reference.jsonl"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            print("skipped: \(path) is absent (make test writes it with scripts/sface-reference.sh)")
            return
        }
        struct Reference: Decodable {
            var path: String
            var box: [Double]?
            var landmarks: [Double]?
            var embedding: [Double]?
        }
        let references = try text.split(separator: "\n").map { try JSONDecoder().decode(Reference.self, from: Data($0.utf8)) }
        try #require(references.count >= 12)
        var worst: Float = 0
        for reference in references {
            let name = URL(fileURLWithPath: reference.path).lastPathComponent
            let expected = try #require(reference.embedding, "\(name): the oracle found no face")
            let face = try #require(try await Fixtures.sface.analyze(imageData: try Fixtures.data(reference.path)).largestFace, "\(name)")
            let box = [face.x, face.y, face.width, face.height].map(Double.init)
            #expect(zip(box, reference.box ?? []).allSatisfy { abs($0 - $1) < 0.01 }, "\(name): box \(box) vs \(reference.box ?? [])")
            let points = face.landmarks.flatMap { [Double($0.x), Double($0.y)] }
            #expect(zip(points, reference.landmarks ?? []).allSatisfy { abs($0 - $1) < 0.01 }, "\(name): landmarks")
            let difference = zip(face.embedding, expected).map { abs($0 - Float($1)) }.max() ?? .infinity
            worst = max(worst, difference)
            #expect(difference <= 1e-4, "\(name): max |Δ| \(difference)")
        }
        print("SFace parity with OpenCV-Python 4.6: \(references.count) photos, max |Δ| \(worst)")
    }
}
