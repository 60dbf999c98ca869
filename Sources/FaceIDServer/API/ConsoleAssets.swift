import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The console's static files (`Resources/console`: HTML, CSS, ES modules), read once into memory with a strong ETag
/// each. They are small (tens of KB) and change only with the binary, so a conditional GET answers 304 and a new
/// release is picked up at the next revalidation (`Cache-Control: no-cache`: no stale module graph after an upgrade).
struct ConsoleAssets: Sendable {
    struct Asset: Sendable {
        var bytes: [UInt8]
        var contentType: String
        var etag: String
    }

    /// By path relative to the folder ("index.html", "js/app.js").
    let assets: [String: Asset]

    /// The bundled folder's files; empty (every asset a 404) when the bundle has none.
    static let bundled: ConsoleAssets = {
        guard let root = Bundle.module.url(forResource: "console", withExtension: nil) else { return ConsoleAssets(assets: [:]) }
        return ConsoleAssets(folder: root)
    }()

    init(assets: [String: Asset]) {
        self.assets = assets
    }

    init(folder: URL) {
        var found: [String: Asset] = [:]
        let base = folder.standardizedFileURL.path
        let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                  let data = try? Data(contentsOf: url) else { continue }
            let relative = String(url.standardizedFileURL.path.dropFirst(base.count + 1))
            let digest = SHA256.hash(data: data).prefix(12).map { String(format: "%02x", $0) }.joined()
            found[relative] = Asset(bytes: [UInt8](data), contentType: Self.contentType(of: relative), etag: "\"\(digest)\"")
        }
        assets = found
    }

    /// The asset at `path`, 304 when `If-None-Match` names its ETag, 404 `route_not_found` when there is none.
    func response(_ path: String, request: Request) throws(ServiceError) -> Response {
        guard let asset = assets[path] else { throw ServiceError.routeNotFound }
        var headers: HTTPFields = [.eTag: asset.etag, .cacheControl: "no-cache"]
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: {
            $0.trimmingCharacters(in: .whitespaces) == asset.etag
        }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    static func contentType(of path: String) -> String {
        switch path.split(separator: ".").last.map(String.init) ?? "" {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "json": "application/json"
        default: "application/octet-stream"
        }
    }
}
