import Foundation
import Testing

@testable import FaceIDServer

/// Every file of `../shared/faces/badinput` (or `$FACEID_FACES_DIR/badinput`) through `POST /face/enroll`:
/// a face → 201, anything else → its documented 4xx code, never a 500.
@Suite("Bad photos through the API", .enabled(if: BadInput.directory != nil, "../shared/faces is absent (set FACEID_FACES_DIR)"))
struct BadInputTests {
    /// The documented outcome of each file (README, "Bad photos").
    static let expected: [String: (Int, String?)] = [
        "empty.jpg": (400, "empty_image"),
        "text_named.jpg": (415, "unsupported_format"),
        "palette_Tony_Blair_0001.gif": (415, "unsupported_format"),
        "webp_Tony_Blair_0001.webp": (415, "unsupported_format"),
        "bmp_Tony_Blair_0001.bmp": (415, "unsupported_format"),
        "truncated_half_Tony_Blair_0002.jpg": (400, "corrupt_image"),
        "truncated_header_Tony_Blair_0002.jpg": (400, "corrupt_image"),
        "junk_bytes.jpg": (400, "corrupt_image"),
        "bitflip_Tony_Blair_0002.jpg": (400, "corrupt_image"),
        "obama_1x1.png": (422, "no_face"),
        "black_640x480.png": (422, "no_face"),
        "white_640x480.jpg": (422, "no_face"),
        "tiny024_Tony_Blair_0001.jpg": (422, "no_face"),
        "tiny040_Tony_Blair_0001.jpg": (422, "no_face"),
        "tiny064_Tony_Blair_0001.jpg": (422, "face_too_small"),
        "big_4000x3000_2008_002506.jpg": (422, "multiple_faces"),
    ]

    /// Where the SFace pipeline answers differently (YuNet has its own reach; README, "Bad photos").
    static let sface: [String: (Int, String?)] = [
        // YuNet finds the 18-px face that HOG misses — and says it is too small.
        "tiny040_Tony_Blair_0001.jpg": (422, "face_too_small"),
        // 1-bit black and white: HOG still finds the face, YuNet does not.
        "bilevel_Tony_Blair_0001.png": (422, "no_face"),
    ]

    @Test(arguments: RecognitionModel.allCases)
    func everyBadInputFileGetsItsDocumentedAnswer(model: RecognitionModel) async throws {
        let directory = try #require(BadInput.directory)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0 != "labels.tsv" }.sorted()
        #expect(files.count >= 32)
        let expected = model == .sface ? Self.expected.merging(Self.sface) { $1 } : Self.expected
        try await TestServer().run { client in
            let owner = try await client.register("Acme")
            try await RecognitionTests.use(model, client, owner.caller)
            for file in files {
                let image = FileManager.default.contents(atPath: directory + "/" + file) ?? Data()
                let reply = try await client.call(.post, "/face/enroll", as: owner.caller, json: JSON([
                    "full_name": file, "image": image.base64EncodedString(), "allow_duplicate": true,
                ]))
                let (status, code) = expected[file] ?? (201, nil)
                #expect(reply.status.code == status, "\(model.rawValue) \(file): \(reply.text.prefix(200))")
                if let code { #expect(reply.code == code, "\(file)") }
            }
        }
    }
}

enum BadInput {
    static let directory: String? = {
        let root = ProcessInfo.processInfo.environment["FACEID_FACES_DIR"] ?? TestServer.packageRoot + "/../shared/faces"
        return FileManager.default.fileExists(atPath: root + "/badinput/labels.tsv") ? root + "/badinput" : nil
    }()
}
