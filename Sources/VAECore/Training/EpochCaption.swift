/// "epoch  7/30": the epoch padded to the width of the planned count, so that it keeps its place
/// from one GIF frame, or one line of vae-train's log, to the next.
public func epochCaption(_ epoch: Int, of planned: Int) -> String {
    let number = String(epoch)
    return "epoch " + String(repeating: " ", count: max(0, String(planned).count - number.count)) + number + "/\(planned)"
}

/// The widest caption of a run's frames, which a frame's layout leaves room for: the planned
/// count's, or the last epoch's should a checkpoint outrun its plan.
public func widestEpochCaption(last: Int, of planned: Int) -> String {
    epochCaption(max(planned, last), of: planned)
}
