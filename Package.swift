// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "faceid",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "VectorIndex", targets: ["VectorIndex"]),
        .executable(name: "faceid-bench", targets: ["faceid-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - Public API

        .target(
            name: "VectorIndex",
            dependencies: ["CLMDB", "COpenBLAS", "CVectorKernels"],
            swiftSettings: [
                // Kernels and heaps are hot loops: optimise them even in debug test builds.
                .unsafeFlags(["-O"]),
            ]
        ),

        // MARK: - Implementation details

        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .target(
            name: "CVectorKernels",
            cSettings: [.unsafeFlags(["-O3"])]  // in-register lookup-table scans; -O0 would be 50x slower
        ),

        // MARK: - Executables

        .executableTarget(
            name: "faceid-bench",
            dependencies: [
                "VectorIndex",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Tests

        .testTarget(name: "VectorIndexTests", dependencies: ["VectorIndex"]),
    ],
    swiftLanguageModes: [.v6]
)
