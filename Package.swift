// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "faceid",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "VectorIndex", targets: ["VectorIndex"]),
        .library(name: "FaceEngine", targets: ["FaceEngine"]),
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

        .target(
            name: "FaceEngine",
            dependencies: ["CFaceEngine"],
            swiftSettings: [.unsafeFlags(["-O"])]  // model checksums hash 32 MB at start
        ),

        // MARK: - Implementation details

        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .target(
            name: "CVectorKernels",
            cSettings: [.unsafeFlags(["-O3"])]  // in-register lookup-table scans; -O0 would be 50x slower
        ),

        .target(
            name: "CFaceEngine",
            cxxSettings: [
                // dlib detection is ~60x slower at -O0: optimise even in debug builds. -mavx lets
                // dlib's HOG templates (instantiated here) use its 8-wide SIMD: 2x faster detection.
                // No -mfma, so no contraction changes rounding against face_recognition.
                .unsafeFlags(["-O2", "-mavx", "-Wno-deprecated-declarations"]),
            ],
            linkerSettings: [
                // dlib-1.pc lists BLAS/LAPACK/jpeg/png by absolute path, which SwiftPM drops.
                .linkedLibrary("dlib"), .linkedLibrary("openblas"), .linkedLibrary("lapack"),
                .linkedLibrary("jpeg"), .linkedLibrary("png"), .linkedLibrary("pthread"),
            ]
        ),

        // MARK: - Executables

        .executableTarget(
            name: "faceid-bench",
            dependencies: [
                "VectorIndex",
                "FaceEngine",
                "CVectorKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Tests

        .testTarget(name: "VectorIndexTests", dependencies: ["VectorIndex"]),
        .testTarget(name: "FaceEngineTests", dependencies: ["FaceEngine"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
