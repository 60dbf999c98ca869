import Foundation

/// A seeded generator of clustered vectors for tests and quick benchmarks: a shared mean, one
/// Gaussian centre per cluster and Gaussian noise per sample, both with power-law spectra
/// (variance of component i ∝ (i+1)^-α) — the shape of face descriptors, modelled on
/// `shared/tools/gen_faces.py` (total variances 0.26 between and 0.085 within clusters), with
/// the same seed always giving the same data.
public struct SyntheticDataset: Sendable {
    public let dimension: Int
    /// Layout: (count, dimension).
    public let base: [Float]
    /// Layout: (queryCount, dimension); each query is a new sample of a random cluster.
    public let queries: [Float]
    public var count: Int { base.count / dimension }
    public var queryCount: Int { queries.count / dimension }

    /// - Parameters:
    ///   - clusterVariance: total variance of the cluster centres.
    ///   - noiseVariance: total variance of samples around their centre.
    public init(count: Int, queryCount: Int, dimension: Int = 128, samplesPerCluster: Int = 5,
                clusterVariance: Float = 0.26, noiseVariance: Float = 0.085, seed: UInt64 = 42) {
        self.dimension = dimension
        var rng = SeededGenerator(seed: seed)
        let mean = (0..<dimension).map { _ in Self.gaussian(&rng) * 0.115 }
        func spectrum(_ total: Float, _ alpha: Float) -> [Float] {
            let w = (0..<dimension).map { Float(pow(Double($0 + 1), Double(-alpha))) }
            let sum = w.reduce(0, +)
            return w.map { (total * $0 / sum).squareRoot() }
        }
        let clusterSpread = spectrum(clusterVariance, 1.0), noise = spectrum(noiseVariance, 0.6)
        let clusters = max(1, count / samplesPerCluster)
        var centres = [Float](repeating: 0, count: clusters * dimension)
        for i in 0..<centres.count { centres[i] = mean[i % dimension] + Self.gaussian(&rng) * clusterSpread[i % dimension] }
        func sample(_ c: Int, _ rng: inout SeededGenerator) -> [Float] {
            (0..<dimension).map { centres[c * dimension + $0] + Self.gaussian(&rng) * noise[$0] }
        }
        var base = [Float]()
        base.reserveCapacity(count * dimension)
        for i in 0..<count { base += sample(i % clusters, &rng) }
        var queries = [Float]()
        for _ in 0..<queryCount { queries += sample(Int.random(in: 0..<clusters, using: &rng), &rng) }
        self.base = base
        self.queries = queries
    }

    /// Vector `i` of the base set.
    public func vector(_ i: Int) -> [Float] { Array(base[(i * dimension)..<((i + 1) * dimension)]) }
    /// Query `i`.
    public func query(_ i: Int) -> [Float] { Array(queries[(i * dimension)..<((i + 1) * dimension)]) }

    /// A standard normal deviate (Box–Muller).
    static func gaussian(_ rng: inout SeededGenerator) -> Float {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &rng)
        let u2 = Double.random(in: 0..<1, using: &rng)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
}
