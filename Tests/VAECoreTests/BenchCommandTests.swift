import Foundation
import Testing
import TestSupport
import VAECore

/// vae-bench times the conv configuration like the others, including the sgemm-only replay of
/// the products a training step recorded.
@Test func benchCommandTimesTheConvConfiguration() throws {
    let result = try runTool("vae-bench", ["--presets", "conv", "--data", syntheticData,
                                           "--images", "200", "--epochs", "2", "--threads", "1"])
    #expect(result.status == 0, "\(result.stderr)")
    let row = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("conv ") }, "\(result.stdout)")
    // s/epoch, img/s, sgemm s, other s, epoch/sgemm, sgemm-only s, epoch/sgemm-only, peak RSS (MB).
    let numbers = row.split(separator: " ").compactMap { Double($0) }
    #expect(numbers.count == 8 && numbers.allSatisfy { $0 > 0 }, "\(row)")
}

/// A training step allocates nothing: with every heap allocation counted (Tests/Preload/
/// allocation-counter.c preloaded), vae-bench makes fewer than one more per added step for 8 batches an epoch
/// than for 2, in each configuration, sgemm-only replays included. (Identical runs differ by up
/// to about 20, outside the steps; handing jobs over as closures added 1,784.) Two threads, so
/// that every split job is handed to a helper.
@Test func trainingStepsAllocateNothing() throws {
    let counter = try preloadLibrary("allocation-counter")
    func allocations(images: Int) throws -> Int {
        let result = try runTool("vae-bench", ["--presets", "pytorch-example,default,conv", "--data", syntheticData,
                                               "--images", "\(images)", "--epochs", "2", "--threads", "2"],
                                 environment: ["LD_PRELOAD": counter])
        #expect(result.status == 0, "\(result.stderr)")
        let prefix = "heap allocations: "
        let line = try #require(result.stderr.split(separator: "\n").last { $0.hasPrefix(prefix) }, "\(result.stderr)")
        return try #require(Int(line.dropFirst(prefix.count)))
    }
    let twoBatches = try allocations(images: 256), eightBatches = try allocations(images: 1024)
    let addedSteps = 3 * 2 * 6
    #expect(twoBatches > 0, "the counter counts")
    #expect(eightBatches - twoBatches < addedSteps, "\(eightBatches - twoBatches) allocations in \(addedSteps) more training steps")
}
