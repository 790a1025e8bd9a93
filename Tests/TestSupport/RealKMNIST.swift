import Foundation
import Testing
import VAECore

/// Real KMNIST, for the few tests about it (everything else runs on fixtures/synthetic). Found
/// where the tools would find it: $KMNIST_DIR when set, else ../shared/kmnist beside the package
/// (as in CI), else data/kmnist in it (where vae-train downloads it).
public enum RealKMNIST {
    /// The folder the tests read, nil when no candidate holds the four files.
    public static let folder: String? = candidates.first { KMNIST.locate(in: $0).allSatisfy { $0 != nil } }

    static var candidates: [String] {
        if let env = ProcessInfo.processInfo.environment["KMNIST_DIR"], !env.isEmpty { return [env] }
        return [URL(fileURLWithPath: packageRoot + "/../shared/kmnist").standardizedFileURL.path, packageRoot + "/data/kmnist"]
    }

    /// VAE_REQUIRE_KMNIST=1 (set by .ci/run): a missing folder fails the tests that need it
    /// instead of skipping them, so that CI cannot quietly test less.
    public static let isRequired = ProcessInfo.processInfo.environment["VAE_REQUIRE_KMNIST"] == "1"

    /// The folder, or the error that fails a required test when there is none.
    public static func requireFolder() throws -> String {
        guard let folder else { throw Missing() }
        return folder
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "VAE_REQUIRE_KMNIST=1, but none of \(candidates.joined(separator: ", ")) holds the four KMNIST files"
        }
    }

    /// Whether `folder` is the development copy of ../shared/kmnist, told apart from the official
    /// files (whose training split has 60,000 images) by the md5s of its two training files.
    public static let isSharedCopy: Bool = {
        guard let folder else { return false }
        let sharedMD5 = ["train-images-idx3-ubyte": "d655e31fcf6c0c2ce2ffbb9ad5974a04",
                         "train-labels-idx1-ubyte": "f416e798347e5f54d99c444a93b21b19"]
        return sharedMD5.allSatisfy { name, md5 in
            (try? readFile(folder + "/" + name + ".gz")).map { md5Hex($0) } == md5
        }
    }()
}

extension Trait where Self == ConditionTrait {
    /// For a test that reads real KMNIST: skipped, with the reason, when there is none (unless
    /// VAE_REQUIRE_KMNIST=1, and then the test fails in `RealKMNIST.requireFolder()`).
    public static var needsRealKMNIST: Self {
        .enabled(if: RealKMNIST.folder != nil || RealKMNIST.isRequired,
                 Comment(rawValue: "needs real KMNIST, in none of \(RealKMNIST.candidates.joined(separator: ", "))"))
    }

    /// For a check of the 7,011-image copy in ../shared/kmnist alone: skipped with any other copy.
    public static var needsSharedKMNISTCopy: Self {
        .enabled(if: RealKMNIST.isSharedCopy || (RealKMNIST.folder == nil && RealKMNIST.isRequired),
                 "checks the 7,011-image copy of ../shared/kmnist, identified by its md5s")
    }
}
