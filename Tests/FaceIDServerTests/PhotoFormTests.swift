import Foundation
import Testing

@testable import FaceIDServer

/// Multipart bodies that MultipartKit cannot take must be refused with a 400, never reach it: a header-name byte of
/// 0x80 or more made it trap (index out of range) and took the whole server down — found by the schemathesis run.
@Suite("Photo forms: multipart bodies")
struct PhotoFormTests {
    @Test(arguments: [
        "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\u{00FF}: x\r\n\r\nvalue\r\n--b--\r\n",
        "--b\r\nX\u{00E9}-Header: y\r\n\r\nvalue\r\n--b--\r\n",
        "preamble\r\n--b\r\nContent-Type: text/plain\r\nCaf\u{00E9}\r\n\r\n\r\n--b--\r\n",
    ])
    func aNonASCIIHeaderNameIsABadRequest(body: String) {
        #expect(throws: ServiceError.self) { try PhotoForm.parts(Data(body.utf8), boundary: "b") }
        #expect(!PhotoForm.headerNamesAreASCII(Data(body.utf8), boundary: "b"))
    }

    @Test func aNonASCIIBoundaryIsABadRequest() {
        let body = "--\u{00FF}\r\nA--\u{00FF}: v\r\n\r\nvalue\r\n--\u{00FF}--\r\n"
        #expect(throws: ServiceError.self) { try PhotoForm.parts(Data(body.utf8), boundary: "\u{00FF}") }
    }

    @Test func aUTF8FileNameAndBinaryContentStillParse() throws {
        var body = Data("--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"фото.jpg\"\r\n\r\n".utf8)
        body.append(contentsOf: [0xFF, 0xD8, 0xFF, 0xE0, 0x0A, 0xC3, 0x3A, 0x80])
        body.append(contentsOf: Data("\r\n--b\r\nContent-Disposition: form-data; name=\"top_k\"\r\n\r\n3\r\n--b--\r\n".utf8))
        let parts = try PhotoForm.parts(body, boundary: "b")
        #expect(parts.map(\.0) == ["image", "top_k"])
        #expect(parts[0].1 == Data([0xFF, 0xD8, 0xFF, 0xE0, 0x0A, 0xC3, 0x3A, 0x80]))
    }
}
