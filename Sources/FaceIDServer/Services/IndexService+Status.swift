import Foundation
import Prometheus
import VectorIndex

/// What this node's copy of a company's index holds, so copies on several nodes — and the store — can be compared:
/// per collection its watermark (the feed position it stands at), its size and the order-independent digest of every
/// (face id, vector), and the installed model's kind and fingerprint. Two nodes at equal watermarks must show equal digests
/// and models; a node caught up to the feed head must
/// show the store's.
extension IndexService {
    struct CollectionStatus: Sendable {
        var space: IndexSpace
        var watermark: Int64
        var count: Int
        var digest: UInt64
        /// `Flat`, or the installed model's kind.
        var kind: IndexKind
        /// The installed model's fingerprint (nil while flat): equal on nodes that installed the same published model.
        var model: UInt64?
    }

    /// This node's collections of the company, each read consistently (O(1) per collection).
    /// - Throws: `ServiceError.indexRebuilding` while the index is rebuilt.
    func status(_ companyID: Int64) throws -> [CollectionStatus] {
        try IndexSpace.allCases.map { space in
            let collection = try collection(companyID, space)
            let contents = collection.contents
            let model = collection.model
            return CollectionStatus(space: space, watermark: Int64(contents.watermark), count: contents.count, digest: contents.digest,
                                    kind: model?.kind ?? .flat, model: model?.fingerprint)
        }
    }

    /// What each collection would hold if built from the store now: the company's current faces read page by page, their
    /// embeddings opened, digested as the collections digest theirs. With writes running the pages are not one snapshot;
    /// compare when the company is quiet. O(faces).
    func storeContents(_ companyID: Int64) async throws -> (position: Int64, collections: [IndexSpace: (count: Int, digest: UInt64)]) {
        var totals: [IndexSpace: (count: Int, digest: UInt64)] = [:]
        for space in IndexSpace.allCases { totals[space] = (0, 0) }
        let position = try await forEachCurrentPage(companyID) { faces, opened, _, _ in
            for (face, vectors) in zip(faces, opened) {
                for space in IndexSpace.allCases {
                    guard let vector = space.vector(from: vectors) else { continue }
                    totals[space]!.count += 1
                    totals[space]!.digest &+= VectorCollection.digest(of: [(UInt64(face.faceID), vector)])
                }
            }
        }
        return (position, totals)
    }

    /// Sets the per-company gauges `/metrics` shows: each collection's watermark, size and digest (its low 48 bits, which a
    /// Prometheus sample holds exactly). Called when `/metrics` is read; O(companies).
    func recordGauges(into metrics: PrometheusCollectorRegistry) async {
        guard !isRebuilding, let companies = try? await store.feedHeads() else { return }
        for companyID in companies.keys.sorted() {
            guard let collections = try? status(companyID) else { continue }
            for collection in collections {
                let labels = [("company_id", String(companyID)), ("space", collection.space.label)]
                metrics.makeGauge(descriptor: Self.watermarkGauge, labels: labels).set(Double(collection.watermark))
                metrics.makeGauge(descriptor: Self.countGauge, labels: labels).set(Double(collection.count))
                metrics.makeGauge(descriptor: Self.digestGauge, labels: labels).set(Double(collection.digest & 0xFFFF_FFFF_FFFF))
            }
        }
    }

    static var watermarkGauge: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "faceid", subsystem: "index", metricName: "watermark", unitName: "",
                             helpText: "The feed position this node's collection has applied, per company and space.")
    }
    static var countGauge: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "faceid", subsystem: "index", metricName: "vectors", unitName: "",
                             helpText: "Vectors in this node's collection, per company and space.")
    }
    static var digestGauge: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "faceid", subsystem: "index", metricName: "digest48", unitName: "",
                             helpText: "The low 48 bits of the collection's content digest: equal on nodes holding the same faces.")
    }
}

extension IndexSpace {
    /// `all:dlib-resnet-v1`, `only:dlib-resnet-v1`, …
    var label: String {
        switch self {
        case .all(let model): "all:" + model.rawValue
        case .only(let model): "only:" + model.rawValue
        }
    }
}
