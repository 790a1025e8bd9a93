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
