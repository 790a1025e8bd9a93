public typealias Floats = UnsafeMutablePointer<Float>
public typealias ConstFloats = UnsafePointer<Float>

/// A contiguous, 64-byte aligned, zero-initialised block of Floats that lives as long as its owner.
///
/// The model's parameters, gradients, optimizer moments and activations are each one
/// `FloatBuffer`; layers see only raw pointers into them, so hot loops carry no ARC or bounds checks.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride,
                                                   alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        pointer.deallocate()
    }

    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public var rawBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: pointer, count: count * MemoryLayout<Float>.stride)
    }

    public var allFinite: Bool {
        var finite = true
        for i in 0..<count { finite = finite && pointer[i].isFinite }
        return finite
    }
}

/// Hands out a buffer front to back in slices of `rows` rows of a given width: how the
/// workspaces lay out every activation of a batch in one allocation.
public struct RowSlices {
    public let buffer: FloatBuffer
    public let rows: Int
    private var next: Floats

    public init(of buffer: FloatBuffer, rows: Int) {
        self.buffer = buffer
        self.rows = rows
        next = buffer.pointer
    }

    /// The next `rows` x `width` floats.
    public mutating func take(_ width: Int) -> Floats {
        take(floats: rows * width)
    }

    /// The next `count` floats, for scratch not laid out by rows.
    public mutating func take(floats count: Int) -> Floats {
        defer { next += count }
        precondition(next + count <= buffer.pointer + buffer.count, "the buffer is smaller than its slices")
        return next
    }

    /// Whether every float has been handed out, as a workspace that sized its buffer right expects.
    public var isExhausted: Bool { next == buffer.pointer + buffer.count }
}
