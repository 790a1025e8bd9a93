/// The batches of `count` items taken in order, `size` at a time: every batch is full but the
/// last, which holds the rest. `for (first, rows) in Batches(count: n, size: 128)`.
public struct Batches: RandomAccessCollection, Sendable {
    public let itemCount: Int, size: Int

    public init(count: Int, size: Int) {
        precondition(count >= 0 && size > 0, "a batch holds at least one item")
        itemCount = count
        self.size = size
    }

    public var startIndex: Int { 0 }
    /// Rounded up without adding first, so that a count read from a file cannot overflow.
    public var endIndex: Int { itemCount / size + (itemCount % size == 0 ? 0 : 1) }

    /// The batch's first item and its number of items.
    public subscript(batch: Int) -> (first: Int, rows: Int) {
        precondition(indices.contains(batch), "batch \(batch) is out of range")
        let first = batch * size
        return (first, Swift.min(size, itemCount - first))
    }
}
