import Foundation
import VAECore

/// The test-set loss a frame of every epoch gives beside its epoch, read from that epoch's
/// checkpoint (nats per image, lower is better), so that the picture and the number measuring
/// it change together. The checkpoint records both whenever it is written; rendering computes nothing.
public enum EpochFigure: Sendable {
    /// The negative ELBO: how well the model explains the test set, which sampling shows.
    case testLoss
    /// Its reconstruction term, -E_q log p(x|z): what the reconstructions show.
    case reconstructionLoss

    var label: String {
        switch self {
        case .testLoss: return "test loss"
        case .reconstructionLoss: return "test recon"
        }
    }

    func value(_ metrics: EpochMetrics) -> Double {
        switch self {
        case .testLoss: return metrics.test.total
        case .reconstructionLoss: return metrics.test.reconstruction
        }
    }

    /// "epoch  7/30  test loss 213.4".
    public func caption(_ metrics: EpochMetrics, of planned: Int) -> String {
        epochCaption(metrics.epoch, of: planned) + "  \(label) " + lossFigure(value(metrics))
    }

    /// What vae-render's line says of the last frame: "test loss 213.4 at epoch 30".
    public func finalNote(_ metrics: EpochMetrics) -> String {
        "\(label) \(lossFigure(value(metrics))) at epoch \(metrics.epoch)"
    }

    /// The widest caption of a run's frames (`widestEpochCaption`) with the widest figure.
    public func widestCaption(last: Int, of planned: Int) -> String {
        widestEpochCaption(last: last, of: planned) + "  \(label) " + String(repeating: "8", count: lossFigureWidth)
    }
}

/// The most characters `lossFigure` writes, which a frame's layout leaves room for.
let lossFigureWidth = 6

/// `loss` in at most `lossFigureWidth` characters: to a tenth of a nat below 1000 ("213.4",
/// "-758.3"), whole nats below 100,000 ("-1234"), then one significant digit ("3e+05").
func lossFigure(_ loss: Double) -> String {
    let rounded = (loss * 10).rounded() / 10 + 0  // + 0: -0.0 is written "0.0"
    if abs(rounded) < 1000 { return String(format: "%.1f", rounded) }
    if abs(loss.rounded()) < 100_000 { return String(format: "%.0f", loss.rounded()) }  // halves away from 0, as above
    return String(format: "%.0e", loss)
}
