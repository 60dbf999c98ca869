import FaceEngine
import Foundation
import Testing

/// Tests on ../shared/faces (skipped with a printed reason when it is absent).
@Suite struct SharedFacesTests {
    /// The documented outcome of every file in badinput/: a typed error code, or a face count.
    static let badInputOutcomes: [String: String] = [
        "rot090_Tony_Blair_0001.jpg": "1", "rot180_Tony_Blair_0001.jpg": "1", "rot270_Tony_Blair_0001.jpg": "1",
        "tilt15_obama.jpg": "1", "tilt30_obama.jpg": "1", "tilt45_obama.jpg": "1",
        "exif_orientation6_obama.jpg": "1",
        "tiny100_Tony_Blair_0001.jpg": "1", "tiny064_Tony_Blair_0001.jpg": "1",
        // faces of ~18 and ~10 px are below HOG's 20-px floor at upsample 1: no face
        "tiny040_Tony_Blair_0001.jpg": "0", "tiny024_Tony_Blair_0001.jpg": "0",
        "obama_1x1.png": "0", "black_640x480.png": "0", "white_640x480.jpg": "0",
        "gray_L_Tony_Blair_0001.jpg": "1", "bilevel_Tony_Blair_0001.png": "1", "cmyk_Tony_Blair_0001.jpg": "1",
        "gray16_Tony_Blair_0001.png": "1", "rgba_alpha128_Tony_Blair_0001.png": "1",
        "png_named_jpg_Tony_Blair_0001.jpg": "1", "progressive_Tony_Blair_0001.jpg": "1", "q5_Tony_Blair_0001.jpg": "1",
        "big_4000x3000_2008_002506.jpg": "3",
        "palette_Tony_Blair_0001.gif": "unsupported_format", "webp_Tony_Blair_0001.webp": "unsupported_format",
        "bmp_Tony_Blair_0001.bmp": "unsupported_format", "text_named.jpg": "unsupported_format",
        "empty.jpg": "empty_image",
        "truncated_half_Tony_Blair_0002.jpg": "corrupt_image", "truncated_header_Tony_Blair_0002.jpg": "corrupt_image",
        "junk_bytes.jpg": "corrupt_image", "bitflip_Tony_Blair_0002.jpg": "corrupt_image",
    ]

    @Test func everyBadInputHasItsDocumentedOutcome() async throws {
        guard let faces = Fixtures.sharedFaces else {
            print("skipped: ../shared/faces is absent (set FACEID_FACES_DIR)")
            return
        }
        let dir = faces + "/badinput"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "labels.tsv" }
        #expect(Set(files) == Set(Self.badInputOutcomes.keys), "badinput/ changed: update the table")
        for file in files.sorted() {
            let outcome: String
            do {
                outcome = String(try await Fixtures.engine.analyze(imageData: try Fixtures.data(dir + "/" + file)).faces.count)
            } catch let error as FaceEngineError {
                outcome = error.code
            }
            #expect(outcome == Self.badInputOutcomes[file], "\(file)")
        }
    }

    /// Parity with face_recognition on a fixed sample of single-face images from every source:
    /// max |Δ| ≤ 1e-4 for at least 99 % of them (the full set runs in `faceid-bench accuracy --parity`).
    @Test func descriptorsMatchFaceRecognition() async throws {
        guard let faces = Fixtures.sharedFaces else {
            print("skipped: ../shared/faces is absent (set FACEID_FACES_DIR)")
            return
        }
        let lines = try String(contentsOfFile: faces + "/reference_encodings.jsonl", encoding: .utf8).split(separator: "\n")
        var checked = 0, within = 0
        var options = AnalyzeOptions()
        options.tryRotations = false
        for (i, line) in lines.enumerated() where i % 97 == 0 {
            let entry = try JSONDecoder().decode(Reference.self, from: Data(line.utf8))
            guard entry.n_faces == 1, let expected = entry.encodings?.first, entry.error == nil else { continue }
            let analysis = try await Fixtures.engine.analyze(imageData: try Fixtures.data(faces + "/" + entry.path), options: options)
            guard analysis.faces.count == 1 else {
                Issue.record("\(entry.path): \(analysis.faces.count) faces, reference 1")
                continue
            }
            let delta = zip(analysis.faces[0].descriptor, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
            checked += 1
            if delta <= 1e-4 { within += 1 } else { print("parity outlier \(entry.path): max |Δ| \(delta)") }
        }
        #expect(checked >= 100)
        #expect(Double(within) >= 0.99 * Double(checked), "\(within) of \(checked) within 1e-4")
    }

    struct Reference: Decodable {
        var path: String
        var n_faces: Int?
        var encodings: [[Double]]?
        var error: String?
    }
}
