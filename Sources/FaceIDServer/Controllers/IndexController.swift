import Foundation
import Hummingbird

/// `GET /index/status`: this node's copy of the company's index — each collection's watermark, size and digest — beside
/// the feed head; with `verify=true` also what the store holds (O(faces): for comparing copies when the company is quiet).
/// Ask every node: copies at equal watermarks must show equal digests.
struct IndexController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.get, "/index/status", .readAudit, use: status)
    }

    @Sendable func status(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> IndexStatusResponse {
        let verify = try request.query("verify", expected: "true or false") { ["true": true, "false": false][$0] } ?? false
        let companyID = principal.companyID
        let head = try await services.store.feedPosition(companyID: companyID)
        let collections = try services.index.status(companyID).map {
            IndexStatusResponse.Collection(space: $0.space.label, watermark: $0.watermark, count: $0.count, digest: Self.hex($0.digest),
                                           kind: $0.kind.description, model: $0.model.map(Self.hex))
        }
        var stored: IndexStatusResponse.Store?
        if verify {
            let contents = try await services.index.storeContents(companyID)
            stored = IndexStatusResponse.Store(position: contents.position, collections: IndexSpace.allCases.map { space in
                let entry = contents.collections[space] ?? (0, 0)
                return IndexStatusResponse.StoredCollection(space: space.label, watermark: contents.position, count: entry.count,
                                                            digest: Self.hex(entry.digest))
            })
        }
        return IndexStatusResponse(node: services.configuration.nodeName, feedHead: head, collections: collections, store: stored)
    }

    static func hex(_ digest: UInt64) -> String { String(format: "%016llx", digest) }
}

struct IndexStatusResponse: ResponseEncodable, Sendable {
    struct Collection: Encodable, Sendable {
        var space: String
        var watermark: Int64
        var count: Int
        var digest: String
        /// `Flat` or the installed model's kind (`IVF1024,PQ64x4fs`).
        var kind: String
        /// The installed model's fingerprint; null while flat.
        var model: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(space, forKey: .space)
            try container.encode(watermark, forKey: .watermark)
            try container.encode(count, forKey: .count)
            try container.encode(digest, forKey: .digest)
            try container.encode(kind, forKey: .kind)
            try container.encode(model, forKey: .model)
        }

        enum CodingKeys: String, CodingKey {
            case space, watermark, count, digest, kind, model
        }
    }

    /// What the store holds for one collection (`verify=true`).
    struct StoredCollection: Encodable, Sendable {
        var space: String
        var watermark: Int64
        var count: Int
        var digest: String
    }

    struct Store: Encodable, Sendable {
        var position: Int64
        var collections: [StoredCollection]
    }

    var success = true
    var node: String
    var feedHead: Int64
    var collections: [Collection]
    var store: Store?
}
