import Foundation

/// Losses of one epoch, in nats per image.
public struct EpochMetrics: Sendable {
    public var epoch: Int
    /// Mean over the epoch's training batches, as the model changed (like PyTorch's example).
    public var train: LossTerms
    /// Negative ELBO of the test set after the epoch, one z sample per image.
    public var test: LossTerms
    public var seconds: Double
    public var imagesPerSecond: Double
    /// The importance-weighted -log p(x) of the test set and its sample count, after the last epoch.
    public var testIWAE: (nll: Double, k: Int)?

    public init(epoch: Int, train: LossTerms, test: LossTerms, seconds: Double, imagesPerSecond: Double,
                testIWAE: (nll: Double, k: Int)? = nil) {
        self.epoch = epoch
        self.train = train
        self.test = test
        self.seconds = seconds
        self.imagesPerSecond = imagesPerSecond
        self.testIWAE = testIWAE
    }

    /// One line of metrics.jsonl.
    public var jsonLine: String {
        func number(_ value: Double) -> String { value.isFinite ? String(value) : "null" }
        return "{\"epoch\":\(epoch),\"train_loss\":\(number(train.total)),"
            + "\"train_reconstruction\":\(number(train.reconstruction)),\"train_kl\":\(number(train.kl)),"
            + "\"test_loss\":\(number(test.total)),\"test_reconstruction\":\(number(test.reconstruction)),"
            + "\"test_kl\":\(number(test.kl)),\"seconds\":\(number(seconds)),"
            + "\"images_per_second\":\(number(imagesPerSecond))"
            + (testIWAE.map { ",\"test_iwae\":\(number($0.nll)),\"iwae_k\":\($0.k)" } ?? "") + "}"
    }
}

/// One epoch's losses from metrics.jsonl.
public struct EpochLosses: Sendable, Equatable {
    public let epoch: Int
    public let train: Double
    public let test: Double

    public init(epoch: Int, train: Double, test: Double) {
        self.epoch = epoch
        self.train = train
        self.test = test
    }
}

/// Reads the train and test loss of every epoch in a run's metrics.jsonl, in epoch order; of
/// lines repeating an epoch (a file edited by hand), the last, as a resume keeps it.
public func readEpochLosses(_ path: String) throws -> [EpochLosses] {
    let rows = try readMetricsLines(path).map(\.losses)
    let lastOfEach = Dictionary(rows.map { ($0.epoch, $0) }, uniquingKeysWith: { _, later in later })
    return lastOfEach.values.sorted { $0.epoch < $1.epoch }
}

/// Every line of a metrics.jsonl file in file order, with the losses it records.
public func readMetricsLines(_ path: String) throws -> [(text: String, losses: EpochLosses)] {
    let bytes = try readFile(path, atMost: 1 << 28)  // a million epochs' lines
    guard let text = String(bytes: bytes, encoding: .utf8) else {
        throw VAEError(.badData, "\(path): not UTF-8 text")
    }
    var rows: [(text: String, losses: EpochLosses)] = []
    // What a trainer can write: epochs count from 1, and a loss is a mean of Float terms.
    let epochs = 1...Int(Int32.max), largestLoss = Double(Float.greatestFiniteMagnitude)
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let epoch = (object["epoch"] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }), epochs.contains(epoch),
              let train = (object["train_loss"] as? NSNumber)?.doubleValue, abs(train) <= largestLoss,
              let test = (object["test_loss"] as? NSNumber)?.doubleValue, abs(test) <= largestLoss
        else {
            throw VAEError(.badData, "\(path):\(number + 1): not a metrics line (a JSON object with an epoch from 1, and a train_loss "
                           + "and a test_loss that are finite Float values)")
        }
        rows.append((String(line), EpochLosses(epoch: epoch, train: train, test: test)))
    }
    return rows
}
