/// How a collection is indexed.
public enum IndexKind: Codable, Sendable, Equatable, CustomStringConvertible {
    /// Exact search over every vector.
    case flat
    /// Inverted file: a k-means coarse quantizer with `listCount` lists (FAISS `nlist`); each
    /// probed list is scanned exactly.
    case ivfFlat(listCount: Int)
    /// Inverted file with product-quantized residuals: `subquantizerCount` (FAISS `M`) codes of
    /// `bits` bits per vector (4: scanned with in-register lookup tables, "fast-scan"), followed by
    /// exact re-ranking of the best candidates (`SearchOptions.rerankCount`).
    case ivfPQ(listCount: Int, subquantizerCount: Int, bits: Int)

    public var listCount: Int {
        switch self {
        case .flat: 0
        case let .ivfFlat(listCount), let .ivfPQ(listCount, _, _): listCount
        }
    }

    var subquantizerCount: Int {
        if case let .ivfPQ(_, m, _) = self { return m }
        return 0
    }

    public var description: String {
        switch self {
        case .flat: "Flat"
        case let .ivfFlat(n): "IVF\(n),Flat"
        case let .ivfPQ(n, m, bits): "IVF\(n),PQ\(m)x\(bits)fs"
        }
    }

    /// Parses the FAISS-style factory strings `Flat`, `IVF1024,Flat`, `IVF4096,PQ64` (4-bit).
    public init?(factoryString: String) {
        let parts = factoryString.split(separator: ",").map(String.init)
        if parts == ["Flat"] { self = .flat; return }
        guard parts.count == 2, parts[0].hasPrefix("IVF"), let lists = Int(parts[0].dropFirst(3)) else { return nil }
        if parts[1] == "Flat" { self = .ivfFlat(listCount: lists); return }
        guard parts[1].hasPrefix("PQ") else { return nil }
        let spec = parts[1].dropFirst(2).split(separator: "x")
        guard let m = Int(spec.first ?? "") else { return nil }
        let bits = spec.count > 1 ? Int(spec[1].prefix { $0.isNumber }) ?? 4 : 4
        self = .ivfPQ(listCount: lists, subquantizerCount: m, bits: bits)
    }

    func validate(dimension: Int) throws(VectorIndexError) {
        switch self {
        case .flat: break
        case let .ivfFlat(n):
            guard n > 0 else { throw .invalidArgument("listCount must be positive") }
        case let .ivfPQ(n, m, bits):
            guard n > 0 else { throw .invalidArgument("listCount must be positive") }
            guard bits == 4 else { throw .invalidArgument("only 4-bit PQ codes are supported") }
            guard m > 0, m % 2 == 0, m <= 256, dimension % m == 0 else {
                throw .invalidArgument("subquantizerCount must be even, at most 256 and divide the dimension")
            }
        }
    }
}

/// When a flat collection converts itself to an IVF index.
public struct TrainingPolicy: Codable, Sendable, Equatable {
    /// The collection is trained as soon as it holds at least this many vectors.
    public var threshold: Int
    /// What it becomes.
    public var kind: IndexKind

    public init(threshold: Int, kind: IndexKind) {
        self.threshold = threshold
        self.kind = kind
    }
}

/// How `VectorCollection.train` runs.
public struct TrainingParameters: Sendable, Equatable {
    /// k-means iterations for the coarse quantizer.
    public var iterations: Int
    /// Training points sampled per list (FAISS warns below 39 and caps at 256).
    public var samplesPerList: Int
    /// Residuals sampled to train the product quantizer.
    public var pqSampleCount: Int
    /// OpenBLAS threads for k-means and assignment.
    public var threads: Int
    public var seed: UInt64

    public init(iterations: Int = 10, samplesPerList: Int = 64, pqSampleCount: Int = 65_536,
                threads: Int = 1, seed: UInt64 = 1234) {
        self.iterations = iterations
        self.samplesPerList = samplesPerList
        self.pqSampleCount = pqSampleCount
        self.threads = threads
        self.seed = seed
    }
}

/// Where an IVF-PQ collection keeps the float32 vectors its re-ranking reads. Flat and IVF-Flat collections scan every
/// vector and always keep them in memory.
public enum VectorResidence: Sendable, Equatable {
    /// In the LMDB map only: a search reads (and, when sealed, opens) its few hundred candidates' vectors. The heap holds
    /// ids, codes, lists and the model — about 90 bytes per vector at 64 subquantizers.
    case map
    /// Also in memory (4 × dimension bytes per vector more): no map read per candidate.
    case memory
}

/// Options for one search.
public struct SearchOptions: Sendable {
    /// How many neighbours to return.
    public var k: Int
    /// How many inverted lists to scan (FAISS `nprobe`); ignored for flat collections.
    public var probeCount: Int
    /// IVF-PQ: how many best code-distance candidates are re-ranked with exact distances.
    public var rerankCount: Int
    /// Scan every vector exactly, whatever the index kind.
    public var exact: Bool
    /// Only ids for which this returns true are returned (e.g. the members of a group).
    public var allow: (@Sendable (UInt64) -> Bool)?
    /// Threads an exact scan may use.
    public var threads: Int

    public init(k: Int = 10, probeCount: Int = 32, rerankCount: Int = 200, exact: Bool = false,
                allow: (@Sendable (UInt64) -> Bool)? = nil, threads: Int = 1) {
        self.k = k
        self.probeCount = probeCount
        self.rerankCount = rerankCount
        self.exact = exact
        self.allow = allow
        self.threads = threads
    }
}

/// One neighbour.
public struct SearchResult: Sendable, Equatable {
    public var id: UInt64
    /// Plain (not squared) Euclidean distance.
    public var distance: Float

    public init(id: UInt64, distance: Float) {
        self.id = id
        self.distance = distance
    }
}

/// One change to a collection.
public enum Mutation: Sendable {
    /// Adds a new id; fails with `duplicateID` when present.
    case add(id: UInt64, vector: [Float])
    /// Replaces the vector of an existing id; fails with `unknownID` when absent.
    case update(id: UInt64, vector: [Float])
    /// Adds or replaces.
    case upsert(id: UInt64, vector: [Float])
    /// Removes an existing id; fails with `unknownID` when absent.
    case remove(id: UInt64)
    /// Removes the id when present.
    case removeIfPresent(id: UInt64)
}

/// Seals and opens stored values (the server plugs in AES-GCM). `context` names the record
/// (collection, database and key) and must be bound as associated data. A sealer that has no key for the context throws
/// `VectorSealerKeyUnavailable`: the call fails with `VectorIndexError.keyUnavailable`, which is not damage. Any other error
/// is (`sealing`).
public protocol VectorSealer: Sendable {
    func seal(_ plaintext: [UInt8], context: [UInt8]) throws -> [UInt8]
    func open(_ sealed: [UInt8], context: [UInt8]) throws -> [UInt8]
}

/// What a `VectorSealer` throws when it holds no key for a record's context (e.g. a key destroyed on purpose).
public struct VectorSealerKeyUnavailable: Error, Sendable {
    public init() {}
}
