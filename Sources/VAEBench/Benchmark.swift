import COpenBLAS
import CSgemmClock
import Foundation
import Synchronization
import VAECore

/// Timing of one training epoch, split at the sgemm boundary, and of its matrix products alone.
public struct EpochTiming: Sendable {
    public var seconds: Double
    public var sgemmSeconds: Double
    /// The same sgemm calls, each step's replayed alone after it: the floor any
    /// implementation on this BLAS stands on.
    public var sgemmOnlySeconds: Double
    /// With `passes`, the time of each part of a step outside sgemm, replayed alone.
    public var passes: [PassTiming] = []
    /// The threads' round trip right after the epoch (`coreToCoreRoundTrip`), outside its time.
    public var roundTripAfter: Double?
    /// Floating-point operations (two per multiply-add) of the epoch's products.
    public var sgemmFlops: Double = 0
    /// With `passes` or `products`, the speed of square products measured right after the
    /// epoch (`SquareProducts`), in floating-point operations per second.
    public var squareProductSpeed: Double?
    /// With `products`, each product of a step, its replays over the epoch.
    public var products: [ProductTiming] = []

    public var otherSeconds: Double { seconds - sgemmSeconds }
}

/// The time of one part of a training step outside sgemm over an epoch, measured by replaying
/// it alone after every step, as the products are.
public struct PassTiming: Sendable {
    public var name: String
    public var seconds: Double
}

/// The replays of one product of a training step over an epoch: its shape in a full batch's
/// step ("NT 128x400x784": op(A)·op(B), N or T each, then m, n and k), their time and their
/// floating-point operations.
public struct ProductTiming: Sendable {
    public var name: String
    public var seconds: Double
    public var flops: Double
}

extension sgemm_clock_call {
    /// Floating-point operations: two per multiply-add.
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

    var shape: String { "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)x\(n)x\(k)" }
}

/// How fast OpenBLAS multiplies on this machine with nothing in its way: every compute thread
/// multiplies a pair of square matrices of its own, `size` wide, all at the same time, five
/// times over; the threads' speeds at their best summed. Set beside the epoch's products, which
/// are narrow (a batch of 128 rows, 20 to 1,024 columns), cut into blocks, handed out and read
/// from memory rather than cache, it says what their shapes and surroundings cost.
public final class SquareProducts {
    public static let size = 512
    private let matrices: FloatBuffer
    private let threads = ComputeThreads.shared.count

    init() {
        let n = SquareProducts.size
        matrices = FloatBuffer(count: 3 * n * n * threads)
        matrices.pointer.update(repeating: 1 / Float(n), count: matrices.count)
    }

    /// Floating-point operations per second.
    func flopsPerSecond() -> Double {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: threads) { best in
            best.initialize(repeating: .max)
            let job = Job(matrices: matrices.pointer, best: best)
            for _ in 0..<5 { ComputeThreads.shared.forEachPart(of: threads, parts: threads, job) }
            let n = Double(SquareProducts.size)
            return best.reduce(0) { $0 + 2 * n * n * n / (Double($1) / 1e9) }
        }
    }

    private struct Job: SplitJob {
        let matrices: Floats, best: UnsafeMutableBufferPointer<UInt64>
        func run(part: Int, range: Range<Int>) {
            let n = SquareProducts.size
            for thread in range {
                let a = matrices + 3 * n * n * thread, b = a + n * n, c = b + n * n
                let start = DispatchTime.now().uptimeNanoseconds
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, c, Int32(n))
                best[thread] = min(best[thread], DispatchTime.now().uptimeNanoseconds - start)
            }
        }
    }
}

extension ImageSet {
    /// The set repeated (and cut) to `count` images, as the anchors' `--tile-to` does, so that an
    /// epoch of the 7,011 local images can be timed like a 60,000-image KMNIST epoch.
    public func tiled(to count: Int) -> ImageSet {
        precondition(self.count > 0)
        let size = VAEConfig.inputSize
        var pixels = [UInt8](), labels = [UInt8]()
        pixels.reserveCapacity(count * size)
        labels.reserveCapacity(count)
        while labels.count < count {
            let take = Swift.min(self.count, count - labels.count)
            pixels += self.pixels[..<(take * size)]
            labels += self.labels[..<take]
        }
        return ImageSet(pixels: pixels, labels: labels)
    }
}

/// Trains `epochs` epochs of `run` on `data` (no evaluation, nothing written) and times each,
/// with the time inside sgemm measured around every call. After every training step, the sgemm
/// calls of a step (recorded once with their shapes and the trainer's own buffers) are replayed
/// alone and timed apart, so that the training and the sgemm-only figures see the machine in the
/// same state to within a few milliseconds; the epoch's time leaves the replays out, and the
/// threads' round trip measured after each epoch. With
/// `passes`, the parts of the step outside sgemm are replayed alone after it as well (see
/// `PassReplays`), and left out of the epoch's time too. With `products`, each product's replays
/// are timed apart as well. With either, the speed of square products (`SquareProducts`) is
/// measured after each epoch, outside its time, for comparison.
public func benchmarkTraining(_ run: RunConfig, data: KMNIST, epochs: Int, passes: Bool = false,
                              products: Bool = false, epochStarts: (_ epoch: Int) -> Void = { _ in }) throws -> [EpochTiming] {
    let trainer = Trainer(run: run, data: data)
    let count = data.train.count
    let batches = Batches(count: count, size: run.batchSize).count, remainder = count % run.batchSize
    // The products do not depend on the values in the buffers, and a step overwrites everything
    // a replay writes before reading it.
    let fullStep = count >= run.batchSize ? recordSgemmCalls(trainer, rows: run.batchSize) : []
    let lastStep = remainder > 0 ? recordSgemmCalls(trainer, rows: remainder) : []
    let passReplays = passes ? PassReplays(trainer) : nil
    let squareProducts = passes || products ? SquareProducts() : nil
    // The last, shorter step makes the same products in the same order, with fewer rows.
    precondition(lastStep.isEmpty || fullStep.isEmpty || lastStep.count == fullStep.count)
    let fullSteps = count / run.batchSize
    let productFlops = (0..<max(fullStep.count, lastStep.count)).map { i in
        (fullStep.isEmpty ? 0 : Double(fullSteps) * fullStep[i].flops) + (lastStep.isEmpty ? 0 : lastStep[i].flops)
    }
    let productNames = (fullStep.isEmpty ? lastStep : fullStep).enumerated().map { "\($0 + 1). \($1.shape)" }
    var productNanoseconds = [UInt64](repeating: 0, count: productFlops.count)
    var timings: [EpochTiming] = []
    for epoch in 1...epochs {
        epochStarts(epoch)  // before the clocks start: a progress display costs the epoch nothing
        var replayNanoseconds: UInt64 = 0
        for i in productNanoseconds.indices { productNanoseconds[i] = 0 }
        passReplays?.reset()
        sgemm_clock_reset()
        sgemm_clock_set_enabled(true)
        let start = DispatchTime.now().uptimeNanoseconds
        var imagesSeen = 0
        var jobsBeforeStep = ComputeThreads.shared.jobsHandedOut
        _ = try trainer.trainEpoch(progress: { progress in
            sgemm_clock_set_enabled(false)
            let replayStart = DispatchTime.now().uptimeNanoseconds
            let stepJobs = ComputeThreads.shared.jobsHandedOut - jobsBeforeStep
            for (i, call) in (progress.batch == batches && remainder > 0 ? lastStep : fullStep).enumerated() {
                let callStart = DispatchTime.now().uptimeNanoseconds
                call.run()
                productNanoseconds[i] += DispatchTime.now().uptimeNanoseconds - callStart
            }
            passReplays?.replay(rows: progress.imagesSeen - imagesSeen, jobs: stepJobs)
            imagesSeen = progress.imagesSeen
            jobsBeforeStep = ComputeThreads.shared.jobsHandedOut
            replayNanoseconds += DispatchTime.now().uptimeNanoseconds - replayStart
            sgemm_clock_set_enabled(true)
        })
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start - replayNanoseconds) / 1e9
        sgemm_clock_set_enabled(false)
        let sgemmSeconds = Double(sgemm_clock_nanoseconds() - (passReplays?.sgemmNanoseconds ?? 0)) / 1e9
        let sgemmOnly = Double(replayNanoseconds - (passReplays?.nanoseconds ?? 0)) / 1e9
        let productTimings = products ? productNames.indices.map {
            ProductTiming(name: productNames[$0], seconds: Double(productNanoseconds[$0]) / 1e9, flops: productFlops[$0])
        } : []
        timings.append(EpochTiming(seconds: seconds, sgemmSeconds: sgemmSeconds, sgemmOnlySeconds: sgemmOnly,
                                   passes: passReplays?.timings ?? [], roundTripAfter: coreToCoreRoundTrip(),
                                   sgemmFlops: productFlops.reduce(0, +), squareProductSpeed: squareProducts?.flopsPerSecond(),
                                   products: productTimings))
    }
    return timings
}

/// The parts of a training step outside sgemm, each replayed alone on the trainer's buffers after
/// the step and timed: loading a batch (rows drawn at random), drawing the noise, the forward
/// pass and the backward pass outside their sgemm calls (the passes after each product, the
/// reparameterisation, the loss and KL, and the hand-offs to the compute threads), the loss
/// alone, a VampPrior's log-density (the mixture of its components at every z) alone, and Adam
/// (on a copy of the parameters with moments of its own, so that training is left as it was).
/// The forward, backward and prior replays run their sgemm calls too, and count only the time
/// outside them. Last, as many empty jobs as the step handed to the compute threads: the cost of
/// the hand-offs alone, which the sgemm-only time and the passes above include.
final class PassReplays {
    /// The parts, in the order `replay` times them.
    let names: [String]
    let trainer: Trainer
    let order: [Int32]
    let optimizer: Adam
    let parameters: FloatBuffer
    var random = Random(seed: 1)
    var next = 0
    private(set) var nanoseconds: UInt64 = 0
    /// The most jobs a step handed to the compute threads (a full batch's step).
    private var jobsPerStep = 0
    /// Time inside sgemm during the replays, which the epoch's sgemm clock must leave out.
    private(set) var sgemmNanoseconds: UInt64 = 0
    private var passNanoseconds: [UInt64]
    /// The part `time` is timing: its index in `names`.
    private var pass = 0

    init(_ trainer: Trainer) {
        self.trainer = trainer
        names = ["load batch", "noise", "forward outside sgemm", "  of which the loss"]
            + (trainer.model.config.prior == .vamp ? ["  of which the prior"] : [])
            + ["backward outside sgemm", "Adam", "hand-offs"]
        passNanoseconds = [UInt64](repeating: 0, count: names.count)
        var random = Random(seed: 2)
        let count = trainer.data.train.count
        var order = [Int32](repeating: 0, count: count)
        order.withUnsafeMutableBufferPointer { random.shuffle($0.baseAddress!, count: count) }
        self.order = order
        optimizer = Adam(trainer.optimizer.hyperparameters, count: trainer.model.layout.count)
        parameters = FloatBuffer(count: trainer.model.layout.count)
        parameters.pointer.update(from: trainer.model.parameters.pointer, count: parameters.count)
    }

    func reset() {
        nanoseconds = 0
        sgemmNanoseconds = 0
        for i in passNanoseconds.indices { passNanoseconds[i] = 0 }
    }

    var timings: [PassTiming] {
        zip(names, passNanoseconds).map { name, nanoseconds in
            PassTiming(name: name == "hand-offs" ? "hand-offs (\(jobsPerStep) a step)" : name, seconds: Double(nanoseconds) / 1e9)
        }
    }

    /// Replays the parts of a step of `rows` images once each, then `jobs` empty jobs.
    func replay(rows: Int, jobs: Int) {
        let model = trainer.model, ws = trainer.workspace
        if next + rows > order.count { next = 0 }
        let replayStart = DispatchTime.now().uptimeNanoseconds
        pass = 0
        time {
            trainer.data.train.pixels.withUnsafeBufferPointer { pixels in
                order.withUnsafeBufferPointer { ws.loadImages(pixels.baseAddress!, indices: $0.baseAddress! + next, rows: rows) }
            }
        }
        next += rows
        time { random.fillNormal(ws.eps, count: rows * model.config.latentDim) }
        time(outsideSgemm: true) { _ = model.forward(ws, rows: rows, computeGradients: true) }
        time { _ = model.reconstructionNLL(ws.decoderOutput, targets: ws.input, gradient: ws.dDecoderOutput, rows: rows) }
        if model.config.prior == .vamp {
            // The components are the encoder's head at the pseudo-inputs, after the images' rows.
            time(outsideSgemm: true) {
                model.priorLogDensity(ws, samples: rows, components: ws.head + rows * 2 * model.config.latentDim)
            }
        }
        time(outsideSgemm: true) { model.backward(ws, rows: rows) }
        time { _ = optimizer.update(parameters: parameters, gradients: model.gradients) }
        jobsPerStep = max(jobsPerStep, jobs)
        time {
            let team = ComputeThreads.shared
            for _ in 0..<jobs { team.forEachPart(of: team.count, EmptyJob()) }
        }
        precondition(pass == names.count, "a part replayed without a name, or a name without its part")
        nanoseconds += DispatchTime.now().uptimeNanoseconds - replayStart
    }

    /// A part for each thread, with nothing to do.
    private struct EmptyJob: SplitJob {
        func run(part: Int, range: Range<Int>) {}
    }

    /// Times the next part of `names`.
    private func time(outsideSgemm: Bool = false, _ body: () -> Void) {
        let sgemmBefore = sgemm_clock_nanoseconds()
        if outsideSgemm { sgemm_clock_set_enabled(true) }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        sgemm_clock_set_enabled(false)
        let inside = sgemm_clock_nanoseconds() - sgemmBefore
        sgemmNanoseconds += inside
        passNanoseconds[pass] += elapsed - min(inside, elapsed)
        pass += 1
    }
}

/// The sgemm calls of one training step on `rows` images, made on the trainer's own buffers
/// (which it leaves overwritten) so that the replay multiplies exactly the same matrices. They
/// are recorded on one thread, each product whole; the replay splits them as training does.
private func recordSgemmCalls(_ trainer: Trainer, rows: Int) -> [sgemm_clock_call] {
    let threads = ComputeThreads.shared.count
    ComputeThreads.shared.setCount(1)
    defer { ComputeThreads.shared.setCount(threads) }
    sgemm_clock_start_recording()
    _ = trainer.model.forward(trainer.workspace, rows: rows, computeGradients: true)
    trainer.model.backward(trainer.workspace, rows: rows)
    let blocks = (0..<sgemm_clock_stop_recording()).map { sgemm_clock_recorded_call(Int32($0)) }
    // A product reaches OpenBLAS as consecutive blocks of rows (or of columns); the replay splits
    // it again as training does, so join each product's blocks back together.
    var products: [sgemm_clock_call] = []
    for block in blocks {
        if var product = products.last, product.continuesByRows(into: block) {
            product.m += block.m
            products[products.count - 1] = product
        } else if var product = products.last, product.continuesByColumns(into: block) {
            product.n += block.n
            products[products.count - 1] = product
        } else {
            products.append(block)
        }
    }
    return products
}

extension sgemm_clock_call {
    /// Whether `next` is the block of rows of the same product that comes right after this one.
    func continuesByRows(into next: sgemm_clock_call) -> Bool {
        next.transA == transA && next.transB == transB && next.n == n && next.k == k && next.b == b
            && next.lda == lda && next.ldb == ldb && next.ldc == ldc && next.beta == beta
            && next.c == c.map { $0 + Int(m) * Int(ldc) }
            && next.a == a.map { $0 + (transA ? Int(m) : Int(m) * Int(lda)) }
    }

    /// Whether `next` is the block of columns of the same product that comes right after this one.
    func continuesByColumns(into next: sgemm_clock_call) -> Bool {
        next.transA == transA && next.transB == transB && next.m == m && next.k == k && next.a == a
            && next.lda == lda && next.ldb == ldb && next.ldc == ldc && next.beta == beta
            && next.c == c.map { $0 + Int(n) }
            && next.b == b.map { $0 + (transB ? Int(n) * Int(ldb) : Int(n)) }
    }

    /// The product again, split among the compute threads as the model splits it.
    func run() {
        sgemm(transA, transB, Int(m), Int(n), Int(k), a!, Int(lda), b!, Int(ldb), c!, Int(ldc), beta: beta)
    }
}

/// The processor as the kernel names it, for the record of a benchmark: the model name, family
/// and model (a virtual machine may name only the vendor), whether it has AVX-512, and the
/// number of processors this process may use.
public func processorDescription() -> String {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    func field(_ name: String) -> String? {
        // "model name\t: AMD EPYC", "model\t\t: 17": the name, then a tab.
        info.split(separator: "\n").first { $0.hasPrefix(name + "\t") }?
            .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
    }
    guard let model = field("model name") else { return "processor unknown (no /proc/cpuinfo)" }
    let avx512 = (field("flags") ?? "").split(separator: " ").contains("avx512f")
    return "\(model) (family \(field("cpu family") ?? "?") model \(field("model") ?? "?"), "
        + "AVX-512 \(avx512 ? "yes" : "no"), \(ProcessInfo.processInfo.activeProcessorCount) processors)"
}

/// The time, in nanoseconds, that a cache line takes to go from one thread to another and back,
/// the median of five runs of 20,000 hand-overs of a counter between two threads that are not
/// pinned (nor are the compute threads): nil with fewer than two processors. It tells where the
/// system has put the two threads. On the 2-core virtual machine of docs/performance.md it was
/// 44 to 105 ns at times and 275 to 480 ns (once 844) at others (presumably the host placing its
/// two processors on cores that share a cache, or not), and `pytorch-example`'s epoch took 1.7
/// times as long in the second case (about 1.2 times since Adam and the loss store
/// non-temporally), so a benchmark records it before a configuration and after each of its epochs.
///
/// Each run stops after 20 ms (20,000 far hand-overs take about 8), and then gives the time per
/// hand-over completed. Both threads spin, so on a busy machine a hand-over waits until the
/// system runs the other thread: beside 16 busy processes on two cores, the full runs made a
/// 100-image vae-bench take 27 s (1 s with the limit); two conv runs at once, as parallel tests
/// start them, took 15 s each instead of 0.85, and in CI past two minutes.
public func coreToCoreRoundTrip() -> Double? {
    guard ProcessInfo.processInfo.activeProcessorCount >= 2 else { return nil }
    final class Counter: @unchecked Sendable { let value = Atomic<Int>(0) }
    let rounds = 20_000, budget: UInt64 = 20_000_000
    // Stored by this thread alone, when its time is up. The other thread moves the counter only by
    // compare-and-swap from the value it expects, so it never overwrites `stop` and stops on it.
    let stop = Int.min
    let runs = (0..<5).map { _ -> Double in
        let counter = Counter()
        // The other thread answers each odd value with the next even one; -1 says it has started.
        let other = Thread {
            guard counter.value.compareExchange(expected: 0, desired: -1, ordering: .acquiringAndReleasing).exchanged
            else { return }
            for round in 0..<rounds {
                while !counter.value.compareExchange(expected: 2 * round + 1, desired: 2 * round + 2,
                                                     ordering: .acquiringAndReleasing).exchanged {
                    if counter.value.load(ordering: .relaxed) == stop { return }
                }
            }
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var spins = 0
        func timeIsUp() -> Bool {
            spins += 1
            return spins % 1024 == 0 && DispatchTime.now().uptimeNanoseconds - start > budget
        }
        other.start()
        while counter.value.load(ordering: .acquiring) != -1 {
            if timeIsUp() && counter.value.compareExchange(expected: 0, desired: stop, ordering: .relaxed).exchanged {
                return Double(budget)
            }
        }
        let handOversStart = DispatchTime.now().uptimeNanoseconds
        var completed = 0
        handOvers: for round in 0..<rounds {
            counter.value.store(2 * round + 1, ordering: .releasing)
            while counter.value.load(ordering: .acquiring) != 2 * round + 2 {
                if timeIsUp() { break handOvers }
            }
            completed += 1
        }
        let elapsed = DispatchTime.now().uptimeNanoseconds - handOversStart
        if completed < rounds { counter.value.store(stop, ordering: .relaxed) }
        return Double(elapsed) / Double(max(completed, 1))
    }
    return runs.sorted()[2]
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
public func peakResidentBytes() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return nil }
    return kilobytes * 1024
}

/// Restarts the peak-RSS counter (Linux: writing 5 to /proc/self/clear_refs), so that
/// consecutive measurements in one process each report their own peak.
public func resetPeakResident() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

