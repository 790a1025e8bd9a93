import Foundation

// The ticks of a chart's axes: the loss curve's and the latent map's.

/// Round tick values spanning [low, high], at least two: steps of 1, 2 or 5 times a power of
/// ten, and at least 1 (losses that never change, or one epoch, still get an axis). `low` and
/// `high` are finite and at most `Float.greatestFiniteMagnitude` apart from 0, as losses are.
func niceTicks(low: Double, high: Double, integers: Bool = false) -> [Double] {
    let span = max(high - low, 1)
    let rough = span / 5
    let power = pow(10, floor(log10(rough)))
    var step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= rough }!
    if integers { step = max(1, step.rounded()) }
    let start = floor(low / step) * step, end = max(ceil(high / step) * step, start + step)
    return stride(from: start, through: end + step / 2, by: step).map { $0 }
}

/// The round epochs within [first, last], and `first` itself, where the curves start, unless a
/// round one is within half a step of it.
func epochTicks(first: Double, last: Double) -> [Double] {
    let round = niceTicks(low: first, high: last, integers: true)
    let step = round[1] - round[0]
    var ticks = round.filter { $0 >= first && $0 <= last }
    if ticks.first.map({ $0 - first >= step / 2 }) ?? true { ticks.insert(first, at: 0) }
    return ticks
}

/// A tick value as written beside its tick: integers without a decimal point.
func tickLabel(_ value: Double) -> String {
    value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(format: "%g", value)
}
