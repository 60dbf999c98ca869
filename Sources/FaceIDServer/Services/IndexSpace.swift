import Crypto
import Foundation
import VectorIndex

/// Which of a company's faces a collection holds, and which of their vectors.
enum IndexSpace: Hashable, Sendable, CaseIterable {
    /// Every face with an embedding of the model.
    case all(RecognitionModel)
    /// The faces whose only embedding is the model's (no other model can find them).
    case only(RecognitionModel)

    /// Only dlib has an `only` collection. Faces with SFace alone are rare outside SFace companies (an import that names
    /// the model), where they are most faces: a copy of them all would double a million-face import for a search that
    /// never runs. A dlib company finds them in `all(sface)`, keeping the hits whose face has no dlib embedding.
    static var allCases: [IndexSpace] { [.all(.dlib), .all(.sface), .only(.dlib)] }

    var model: RecognitionModel {
        switch self {
        case .all(let model), .only(let model): model
        }
    }

    /// dlib's `all` keeps the name the single collection had before SFace, so an existing index stays current.
    func collectionName(_ companyID: Int64) -> String {
        switch self {
        case .all(let model): model.collectionName(companyID)
        case .only(let model): "company-\(companyID)-only-\(model.rawValue)"
        }
    }

    /// The company a collection belongs to: `company-12`, `company-12-sface`, `company-12-only-dlib` → 12.
    static func companyID(ofCollection name: String) -> Int64? {
        guard name.hasPrefix("company-") else { return nil }
        return Int64(name.dropFirst("company-".count).prefix { $0 != "-" })
    }

    /// The vector this space holds for a face with these embeddings, or nil when the face does not belong in it.
    func vector(from embeddings: [RecognitionModel: [Float]]) -> [Float]? {
        switch self {
        case .all(let model): embeddings[model]
        case .only(let model): embeddings.count == 1 ? embeddings[model] : nil
        }
    }
}

extension KeyRing {
    /// Seals the index's stored vectors per company, each under a key derived from the company's data key (`indexKey`), bound
    /// to each record: a deleted company's collections in an old copy of `index/` do not open once its secret is destroyed.
    func indexSealer() -> IndexSealer {
        IndexSealer(keyRing: self)
    }
}

/// AES-256-GCM for VectorIndex records; the context (collection, table, key) is the associated data, and the collection's
/// company picks the key. A company whose data key this process does not hold (never loaded, or destroyed) has none:
/// `VectorSealerKeyUnavailable`, which the index does not take for damage.
struct IndexSealer: VectorSealer {
    let keyRing: KeyRing

    /// The layout of the index's sealed-file format: what `IndexService` writes beside the LMDB files, so an index sealed
    /// otherwise (the master-derived key before company keys) is rebuilt instead of failing record by record.
    static let format = "faceid-index-sealing: company-keys-v2"

    func seal(_ plaintext: [UInt8], context: [UInt8]) throws -> [UInt8] {
        [UInt8](try AES.GCM.seal(plaintext, using: try key(context), authenticating: context).combined!)
    }

    func open(_ sealed: [UInt8], context: [UInt8]) throws -> [UInt8] {
        [UInt8](try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: try key(context), authenticating: context))
    }

    /// `vectorindex/<collection>/<table>/<key>`: the collection names the company.
    private func key(_ context: [UInt8]) throws -> SymmetricKey {
        let prefix = Array("vectorindex/".utf8)
        guard context.starts(with: prefix),
              let companyID = IndexSpace.companyID(ofCollection: String(decoding: context.dropFirst(prefix.count).prefix { $0 != UInt8(ascii: "/") },
                                                                         as: UTF8.self)),
              let key = keyRing.indexKey(companyID: companyID) else { throw VectorSealerKeyUnavailable() }
        return key
    }
}
