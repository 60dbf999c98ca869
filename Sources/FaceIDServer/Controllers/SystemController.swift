import Foundation
import Hummingbird

/// `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus text), `GET /openapi.yaml`.
struct SystemController {
    let services: AppServices

    func addRoutes(to router: Router<AppRequestContext>, table: inout [RouteInfo]) {
        router.get("healthz") { _, _ in OK() }
        router.get("readyz") { _, _ in
            guard await services.store.isReady() else { throw ServiceError.unavailable }
            // Until a damaged index is rebuilt from the store, searches would miss faces: not ready.
            guard !services.index.isRebuilding else { throw ServiceError.indexRebuilding }
            // Damaged faces set aside: the server is ready (everything else is served), and says how many.
            return ReadyResponse(store: "ok", index: "ok", quarantinedFaces: try await services.store.quarantinedFaceCount())
        }
        router.get("metrics") { _, _ in
            await services.index.recordGauges(into: services.metrics)
            var buffer: [UInt8] = []
            services.metrics.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        router.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"],
                     body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.data)))
        }
        for path in ["/healthz", "/readyz", "/metrics", "/openapi.yaml"] {
            table.append(RouteInfo(method: .get, path: path, permission: nil))
        }
    }
}

struct ReadyResponse: ResponseEncodable, Sendable {
    var success = true
    var store: String
    var index: String
    /// Stored faces whose encoding does not open, left out of kiosk lists and the index (the log and the audit name them).
    var quarantinedFaces: Int
}
