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
    /// Seals the index's stored vectors with a key derived from the master key (HKDF-SHA256), bound to each record.
    func indexSealer() -> IndexSealer {
        IndexSealer(key: HKDF<SHA256>.deriveKey(
            inputKeyMaterial: master.key, info: Data("faceid.index.v1".utf8), outputByteCount: 32))
    }
}

/// AES-256-GCM for VectorIndex records; the context (collection, table, key) is the associated data.
struct IndexSealer: VectorSealer {
    let key: SymmetricKey

    func seal(_ plaintext: [UInt8], context: [UInt8]) throws -> [UInt8] {
        [UInt8](try AES.GCM.seal(plaintext, using: key, authenticating: context).combined!)
    }

    func open(_ sealed: [UInt8], context: [UInt8]) throws -> [UInt8] {
        [UInt8](try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: context))
    }
}
