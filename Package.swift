// swift-tools-version:6.0
import PackageDescription

// The core's hot loops use SIMD types, which are 100x slower unoptimised: debug builds (and so
// `swift test`) optimise the core, and the benchmark that times it, anyway. -target-cpu native
// is like -march=native: the loops use AVX2 and FMA where the building machine has them.
let optimisedForThisCPU: [SwiftSetting] = [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
    .unsafeFlags(["-target-cpu", "native"]),
]

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "kmnist-vae",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vae-train", targets: ["vae-train"]),
        .executable(name: "vae-render", targets: ["vae-render"]),
        .executable(name: "vae-eval", targets: ["vae-eval"]),
        .executable(name: "vae-bench", targets: ["vae-bench"]),
        .executable(name: "vae-classifier", targets: ["vae-classifier"]),
        .executable(name: "vae-sample", targets: ["vae-sample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries from Debian: libopenblas-dev, libgif-dev, zlib1g-dev, libssl-dev (MD5 only).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CGIF", providers: [.apt(["libgif-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibcrypto", providers: [.apt(["libssl-dev"])]),
        // Header only: vector instructions that Swift's SIMD types do not reach on Linux, and which
        // of them the core was compiled for (--version). SwiftPM does not track these two
        // headers: after editing one, remove .build before building.
        .systemLibrary(name: "CVectorMath"),
        // Header only: flush-to-zero and denormals-are-zero for the threads that compute.
        .systemLibrary(name: "CFloatingPointMode"),

        // Tensors, layers, model, losses, optimizer, data, checkpoints, training.
        .target(name: "VAECore", dependencies: ["COpenBLAS", "CZlib", "CLibcrypto", "CVectorMath", "CFloatingPointMode"],
                swiftSettings: optimisedForThisCPU),
        // Canvas, font, GIF writing, the animations, the loss curve (SVG) and vae-eval's quality table.
        .target(name: "VAERender", dependencies: ["VAECore", "CGIF"]),
        // What the command-line tools share: --threads and --data, one line per error with its
        // exit code, the progress display.
        .target(name: "VAECommandLine", dependencies: ["VAECore", argumentParser]),

        .executableTarget(name: "vae-train", dependencies: ["VAECore", "VAECommandLine", argumentParser]),
        .executableTarget(name: "vae-render", dependencies: ["VAECore", "VAERender", "VAECommandLine", argumentParser]),
        .executableTarget(name: "vae-eval", dependencies: ["VAECore", "VAERender", "VAECommandLine", argumentParser]),
        // The sample-quality classifier, and the samples themselves as IDX files.
        .executableTarget(name: "vae-classifier", dependencies: ["VAECore", "VAECommandLine", argumentParser]),
        .executableTarget(name: "vae-sample", dependencies: ["VAECore", "VAECommandLine", argumentParser]),

        // The benchmark: an epoch timed inside and outside sgemm (CSgemmClock stands in for
        // OpenBLAS's cblas_sgemm in vae-bench alone), the products and the other passes replayed
        // alone, and the OpenBLAS kernels in use.
        .target(name: "CSgemmClock", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "VAEBench", dependencies: ["VAECore", "CSgemmClock", "COpenBLAS"], swiftSettings: optimisedForThisCPU),
        .executableTarget(name: "vae-bench", dependencies: ["VAECore", "VAEBench", "VAECommandLine", argumentParser]),

        // Test machinery: the GIF reader, whole-file GIF, IDX and gzip encoders, the golden cases
        // and the synthetic data's file names, for the tests, the fuzzers and vae-fixtures, which
        // regenerates fixtures/.
        .target(name: "VAETesting", dependencies: ["VAECore", "VAERender", "CGIF"]),
        .executableTarget(name: "vae-fixtures", dependencies: ["VAECore", "VAERender", "VAETesting", "VAECommandLine", argumentParser]),

        // The fuzz targets, one module each so that each defines libFuzzer's entry point once.
        // `swift build` compiles them like any library; scripts/fuzz builds them again with
        // -Xswiftc -sanitize=fuzzer,address (it says why not --sanitize) and links each with libFuzzer's main.
        .target(name: "FuzzIDX", dependencies: ["VAECore"], path: "Fuzz/IDX"),
        .target(name: "FuzzSafetensors", dependencies: ["VAECore"], path: "Fuzz/Safetensors"),
        .target(name: "FuzzGIF", dependencies: ["VAETesting"], path: "Fuzz/GIF"),

        // A time limit on the whole test process, which no test can escape, and Ctrl-C stopping the
        // programs the tests started (Tests/Watchdog/watchdog.c).
        .target(name: "TestWatchdog", path: "Tests/Watchdog", publicHeadersPath: "."),
        .target(name: "TestSupport", dependencies: ["VAECore", "VAETesting", "TestWatchdog"], path: "Tests/TestSupport"),
        .testTarget(name: "VAECoreTests", dependencies: ["VAECore", "VAECommandLine", "VAETesting", "TestSupport"]),
        .testTarget(name: "VAERenderTests", dependencies: ["VAERender", "VAECore", "VAETesting", "TestSupport"]),
    ]
)
