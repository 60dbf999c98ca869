import Foundation

/// A trained IVF model — the coarse quantizer's centroids and, for IVF-PQ, the product quantizer's codebooks — detached
/// from any collection, so one process can train it and many can install it (`VectorCollection.install`). Two
/// collections holding the same vectors under the same model answer every search alike, whatever order the vectors
/// arrived in: each vector's list and code depend only on the vector and the model.
public struct TrainedModel: Sendable, Equatable {
    public let kind: IndexKind
    public let dimension: Int
    /// `listCount × dimension`, row-major.
    public let centroids: [Float]
    /// IVF-PQ: `(subquantizerCount, dimension / subquantizerCount, 16)`; empty for IVF-Flat.
    public let codebooks: [Float]

    /// - Throws: `invalidArgument` when the kind is flat or the arrays do not have the kind's sizes.
    public init(kind: IndexKind, dimension: Int, centroids: [Float], codebooks: [Float]) throws(VectorIndexError) {
        guard kind != .flat else { throw .invalidArgument("a flat index has no model") }
        guard dimension > 0, dimension <= 4096 else { throw .invalidArgument("dimension \(dimension)") }
        try kind.validate(dimension: dimension)
        guard kind.listCount <= Catalog.maxListCount, centroids.count == kind.listCount * dimension else {
            throw .invalidArgument("\(centroids.count) centroid floats for \(kind) of dimension \(dimension)")
        }
        let expected = kind.subquantizerCount > 0 ? dimension * ProductQuantizer.centroidCount : 0
        guard codebooks.count == expected else {
            throw .invalidArgument("\(codebooks.count) codebook floats for \(kind) of dimension \(dimension)")
        }
        guard centroids.allSatisfy(\.isFinite), codebooks.allSatisfy(\.isFinite) else {
            throw .invalidArgument("a model with a non-finite component")
        }
        self.kind = kind
        self.dimension = dimension
        self.centroids = centroids
        self.codebooks = codebooks
    }

    private static let magic = Array("VIM1".utf8)

    /// A self-describing little-endian encoding: `VIM1`, list count, sub-quantizer count (0: IVF-Flat), bits, dimension,
    /// then the centroids and the codebooks as float32.
    public func serialized() -> [UInt8] {
        var out = Self.magic
        out.reserveCapacity(20 + 4 * (centroids.count + codebooks.count))
        let bits: Int
        if case let .ivfPQ(_, _, b) = kind { bits = b } else { bits = 0 }
        for value in [kind.listCount, kind.subquantizerCount, bits, dimension] {
            withUnsafeBytes(of: UInt32(value).littleEndian) { out.append(contentsOf: $0) }
        }
        for array in [centroids, codebooks] {
            for value in array { withUnsafeBytes(of: value.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        }
        return out
    }

    /// Decodes `serialized()`.
    /// - Throws: `corrupt` for anything else (a wrong header, sizes that do not match, a non-finite value).
    public init(serialized bytes: [UInt8]) throws(VectorIndexError) {
        guard bytes.count >= 20, Array(bytes.prefix(4)) == Self.magic else { throw .corrupt("model header") }
        func word(_ i: Int) -> Int {
            bytes.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 + 4 * i, as: UInt32.self))) }
        }
        let (lists, m, bits, d) = (word(0), word(1), word(2), word(3))
        let kind: IndexKind = m == 0 ? .ivfFlat(listCount: lists) : .ivfPQ(listCount: lists, subquantizerCount: m, bits: bits)
        guard lists > 0, lists <= Catalog.maxListCount, d > 0, d <= 4096 else { throw .corrupt("model sizes") }
        let centroidCount = lists * d, codebookCount = m == 0 ? 0 : d * ProductQuantizer.centroidCount
        guard bytes.count == 20 + 4 * (centroidCount + codebookCount) else { throw .corrupt("model length") }
        let floats: [Float] = bytes.withUnsafeBytes { raw in
            (0..<(centroidCount + codebookCount)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 20 + 4 * $0, as: UInt32.self)))
            }
        }
        do {
            try self.init(kind: kind, dimension: d, centroids: Array(floats[..<centroidCount]),
                          codebooks: Array(floats[centroidCount...]))
        } catch {
            throw .corrupt("model (\(error))")
        }
    }

    /// A 64-bit fingerprint of the model (FNV-1a over `serialized()`): equal on two nodes that installed the same model.
    public var fingerprint: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in serialized() {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }
}

extension TrainedModel {
    var productQuantizer: ProductQuantizer? {
        kind.subquantizerCount > 0
            ? ProductQuantizer(dimension: dimension, subquantizerCount: kind.subquantizerCount, codebooks: codebooks) : nil
    }
}
