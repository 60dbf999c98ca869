// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "faceid",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "VectorIndex", targets: ["VectorIndex"]),
        .library(name: "FaceEngine", targets: ["FaceEngine"]),
        .library(name: "FaceIDServer", targets: ["FaceIDServer"]),
        .executable(name: "faceid-server", targets: ["faceid-server"]),
        .executable(name: "faceid-bench", targets: ["faceid-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.20.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.25.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.0.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        .package(
            url: "https://github.com/apple/swift-configuration", from: "1.0.0",
            traits: [.defaults, "CommandLineArguments"]
        ),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.25.0"),
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
            // swift-crypto's SHA-256 (BoringSSL, assembly on x86-64) checks the model files' pinned checksums.
            dependencies: ["CFaceEngine", .product(name: "Crypto", package: "swift-crypto")]
        ),

        .target(
            name: "FaceIDServer",
            dependencies: [
                "VectorIndex",
                "FaceEngine",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "SwiftCSV", package: "SwiftCSV"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            // The API contract, served byte for byte at /openapi.yaml and read by the contract tests; the console's static
            // files (HTML, CSS, ES modules: no build step), served at /console/.
            resources: [.copy("Resources/openapi.yaml"), .copy("Resources/console")]
        ),

        // MARK: - Implementation details

        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMalloc"),
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
                // sface_engine.cpp includes Debian's OpenCV 4.6 (libopencv-dev) from its versioned folder.
                .unsafeFlags(["-O2", "-mavx", "-Wno-deprecated-declarations", "-I/usr/include/opencv4"]),
            ],
            linkerSettings: [
                // dlib-1.pc lists BLAS/LAPACK/jpeg/png by absolute path, which SwiftPM drops.
                .linkedLibrary("dlib"), .linkedLibrary("openblas"), .linkedLibrary("lapack"),
                .linkedLibrary("jpeg"), .linkedLibrary("png"), .linkedLibrary("pthread"),
                // Only the four OpenCV modules the SFace pipeline uses (opencv4.pc would link all fifty).
                .linkedLibrary("opencv_core"), .linkedLibrary("opencv_imgproc"), .linkedLibrary("opencv_dnn"),
                .linkedLibrary("opencv_objdetect"),
            ]
        ),

        // MARK: - Executables

        .executableTarget(
            name: "faceid-bench",
            dependencies: [
                "VectorIndex",
                "FaceEngine",
                "CVectorKernels",
                "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        .executableTarget(
            name: "faceid-server",
            dependencies: ["FaceIDServer", .product(name: "Configuration", package: "swift-configuration")]
        ),

        // MARK: - Tests

        .testTarget(name: "VectorIndexTests", dependencies: ["VectorIndex"]),
        .testTarget(name: "FaceEngineTests", dependencies: ["FaceEngine"]),
        .testTarget(
            name: "FaceIDServerTests",
            dependencies: [
                "FaceIDServer",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
