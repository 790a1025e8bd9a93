// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "kmnist-vae",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vae-train", targets: ["vae-train"]),
        .executable(name: "vae-render", targets: ["vae-render"]),
        .executable(name: "vae-eval", targets: ["vae-eval"]),
        .executable(name: "vae-bench", targets: ["vae-bench"]),
        // Test support: the allocation test preloads it into vae-bench to count heap allocations.
        .library(name: "AllocationCounter", type: .dynamic, targets: ["AllocationCounter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C libraries from Debian: libopenblas-dev, libgif-dev, zlib1g-dev.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CGIF", providers: [.apt(["libgif-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Header only: vector instructions that Swift's SIMD types do not reach on Linux.
        .systemLibrary(name: "CVectorMath"),

        // Tensors, layers, model, loss, optimizer, data, checkpoints, training.
        .target(name: "VAECore", dependencies: [
            "COpenBLAS", "CZlib", "CVectorMath",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: [
            // The hot loops use SIMD types, which are 100x slower unoptimised; debug builds
            // (and so `swift test`) optimise this one module to keep the tests quick.
            .unsafeFlags(["-O"], .when(configuration: .debug)),
            // Like -march=native: the loops use AVX2 and FMA where the building machine has them.
            .unsafeFlags(["-target-cpu", "native"]),
        ]),
        // Canvas, font, GIF writing and reading, the three animations.
        .target(name: "VAERender", dependencies: ["VAECore", "CGIF"]),

        // What the command-line tools share: --threads, one line per error with its exit code, the progress display.
        .target(name: "VAECommandLine", dependencies: [
            "VAECore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .executableTarget(name: "vae-train", dependencies: [
            "VAECore", "VAECommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "vae-render", dependencies: [
            "VAECore", "VAERender", "VAECommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Regenerates fixtures/: a synthetic dataset, tiny runs trained on it, the golden GIFs.
        .executableTarget(name: "vae-fixtures", dependencies: ["VAECore", "VAERender", "TestSupport"]),

        .executableTarget(name: "vae-eval", dependencies: [
            "VAECore", "VAECommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "vae-bench", dependencies: [
            "VAECore", "VAECommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .target(name: "TestSupport", dependencies: ["VAECore"], path: "Tests/TestSupport"),
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter", publicHeadersPath: "."),
        .testTarget(name: "VAECoreTests", dependencies: ["VAECore", "TestSupport"]),
        .testTarget(name: "VAERenderTests", dependencies: ["VAERender", "VAECore", "TestSupport"]),
    ]
)
