import ArgumentParser
import VAECore

/// Refuses a value of `flag` outside `range` in the one wording every tool uses, "--grid must be
/// between 1 and 64, got 1000", with `unit` after the upper bound when the number needs one. A
/// flag left out (nil) passes.
public func checkRange<Value: Comparable>(_ flag: String, _ value: Value?, in range: ClosedRange<Value>,
                                          unit: String? = nil) throws {
    guard let value, !range.contains(value) else { return }
    throw ValidationError("\(flag) must be between \(range.lowerBound) and \(range.upperBound)\(unit.map { " " + $0 } ?? ""), got \(value)")
}

/// Refuses a `--temperature` outside (0, `maximumSamplingTemperature`], or one given beside a
/// `--sampler` that has nothing to scale (`takesTemperature` false: the prior, or vae-render's
/// grid), naming that sampler and the ones the flag applies to. A flag left out (nil) passes.
public func checkTemperature(_ temperature: Double?, sampler: String, takesTemperature: Bool) throws {
    guard let temperature else { return }
    guard temperature > 0 && temperature <= maximumSamplingTemperature else {
        throw ValidationError("--temperature must be above 0 and at most \(Int(maximumSamplingTemperature)), got \(temperature)")
    }
    guard takesTemperature else {
        let scaled = SamplerKind.allCases.filter(\.takesTemperature).map(\.rawValue).joined(separator: ", ")
        throw ValidationError("--temperature does not apply to --sampler \(sampler); it spreads \(scaled)")
    }
}

/// "1 to 64": the values `checkRange` holds a flag to, for the flag's help.
public func rangeHelp<Value>(_ range: ClosedRange<Value>) -> String { "\(range.lowerBound) to \(range.upperBound)" }
