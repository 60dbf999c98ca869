import Foundation

/// The API contract: `Resources/openapi.yaml`, the one place every operation, schema, limit and error code is written.
/// Served byte for byte at `GET /openapi.yaml`; the contract tests hold the routes, `Limits` and `ErrorCode` to it.
enum OpenAPIDocument {
    /// The document's bytes, read once from the target's resource bundle.
    static let data: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let data = try? Data(contentsOf: url) else {
            // The build copies it next to the executable (faceid_FaceIDServer.resources); without it the binary is broken.
            fatalError("openapi.yaml is missing from the FaceIDServer resource bundle")
        }
        return data
    }()

    static var yaml: String { String(decoding: data, as: UTF8.self) }
}
