// swift-tools-version:6.1
// Micro-benchmarks (package-benchmark convention), kept in their own package so that the
// product's build and `make test` never compile the benchmark framework.
// Run: `make microbench` (or `cd Benchmarks && swift package benchmark`).
import PackageDescription

let package = Package(
    name: "faceid-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "faceid", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "VectorIndexBenchmarks",
            dependencies: [
                .product(name: "VectorIndex", package: "faceid"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/VectorIndexBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
