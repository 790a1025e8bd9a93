import Foundation
import Synchronization
import Testing
import TestSupport
@testable import VAECore

/// A closure as a job, for tests; the library's jobs are values that allocate nothing.
struct ClosureJob: SplitJob {
    let body: (_ part: Int, _ range: Range<Int>) -> Void
    func run(part: Int, range: Range<Int>) { body(part, range) }
}

extension ComputeThreads {
    func forEachPart(of work: Int, alignment: Int = 1, parts: Int? = nil,
                     _ body: @escaping (_ part: Int, _ range: Range<Int>) -> Void) {
        forEachPart(of: work, alignment: alignment, parts: parts, ClosureJob(body: body))
    }
}

/// Each index of the work lands in exactly one part, parts start on the alignment, and the
/// parts really run on different threads at the same time (each waits until every part has
/// started, which needs as many threads as parts).
@Test(arguments: [(1, 1), (100, 1), (1000, 16), (1000, 64), (37, 16)])
func partsCoverTheWorkOnceOnSeparateThreads(work: Int, alignment: Int) {
    let team = ComputeThreads(count: 3)
    // The parts only record what they saw; the expectations run on the test's own task.
    let lock = NSLock()
    var seen = [Int](repeating: 0, count: work)
    var threadsByPart: [Int: pthread_t] = [:]
    var ranges: [(part: Int, range: Range<Int>)] = []
    let expectedParts = max(1, min(3, work / alignment))
    let started = Atomic<Int>(0)
    team.forEachPart(of: work, alignment: alignment) { part, range in
        started.add(1, ordering: .relaxed)
        while started.load(ordering: .relaxed) < expectedParts { sched_yield() }
        lock.lock()
        for i in range { seen[i] += 1 }
        threadsByPart[part] = pthread_self()
        ranges.append((part, range))
        lock.unlock()
    }
    #expect(ranges.allSatisfy { $0.part < 3 }, "\(ranges)")
    #expect(ranges.allSatisfy { $0.range.lowerBound % alignment == 0 }, "\(ranges)")
    #expect(seen.allSatisfy { $0 == 1 })
    #expect(threadsByPart.count == expectedParts)
    #expect(Set(threadsByPart.values.map { UInt($0) }).count == expectedParts, "one thread per part")
}

/// With more parts than threads, every part still runs once, and `part` stays below `parts`.
@Test func morePartsThanThreadsRunOnceEach() {
    let team = ComputeThreads(count: 2)
    let lock = NSLock()
    var ranges: [Int: Range<Int>] = [:], runs = [Int](repeating: 0, count: 8)
    team.forEachPart(of: 100, alignment: 4, parts: 7) { part, range in
        lock.lock()
        ranges[part] = range
        runs[min(part, 7)] += 1
        lock.unlock()
    }
    // Counted, and checked on the test's own task: a part that ran twice would overwrite its range.
    #expect(runs == [1, 1, 1, 1, 1, 1, 1, 0], "runs of each part (the last: any part past 6)")
    #expect(ranges.keys.sorted() == Array(0..<7))
    #expect(ranges.values.sorted { $0.lowerBound < $1.lowerBound }.map(\.count).reduce(0, +) == 100)
    #expect(ranges.values.allSatisfy { $0.lowerBound % 4 == 0 }, "\(ranges)")
}

/// Many jobs in a row, with more threads than cores and part counts that alternate between
/// fewer parts than threads and as many: a helper that had no part of one job, and runs late,
/// must neither take a part of the next job before it starts nor run one twice, and the caller
/// must not return before every part is done. (The helpers once read a later job's part count
/// for an earlier generation: 2 of 8 runs of `vae-train --threads 3` on two cores gave other
/// checkpoints, and one crashed.)
@Test func jobsInQuickSuccessionRunEachPartOnceAndFinish() {
    let team = ComputeThreads(count: 4)
    let hits = UnsafeMutablePointer<Int>.allocate(capacity: 4)
    defer { hits.deallocate() }
    var failures = 0
    for job in 0..<20_000 {
        let work = 2 + job % 3
        hits.initialize(repeating: 0, count: 4)
        team.forEachPart(of: work) { _, range in
            for i in range { hits[i] += 1 }
        }
        if (0..<work).contains(where: { hits[$0] != 1 }) { failures += 1 }
    }
    #expect(failures == 0, "\(failures) of 20,000 jobs ran a part twice or returned before it finished")
}

/// Parts run by a job with no stored properties, which has no address of its own.
private let emptyJobParts = Atomic<Int>(0)

private struct EmptyJob: SplitJob {
    func run(part: Int, range: Range<Int>) { emptyJobParts.add(1, ordering: .relaxed) }
}

/// A job with no stored properties (such as vae-bench's replay of the hand-offs) runs every
/// part too: a pointer to it may be null in optimised code, which the job slot read as "no
/// job", so a helper stopped on a nil unwrap and the caller waited for ever.
@Test func jobsWithNoStoredPropertiesRunEveryPart() {
    let team = ComputeThreads(count: 2)
    emptyJobParts.store(0, ordering: .relaxed)
    for _ in 0..<1000 { team.forEachPart(of: 2, EmptyJob()) }
    #expect(emptyJobParts.load(ordering: .relaxed) == 2000)
    // Whether the pointer is null depends on the build, so the rule itself is checked too.
    withUnsafePointer(to: EmptyJob()) { #expect(ComputeThreads.slotAddress(of: $0) == ComputeThreads.addressOfEmptyJobs) }
    let job = ClosureJob { _, _ in }
    withUnsafePointer(to: job) { #expect(ComputeThreads.slotAddress(of: $0) == UnsafeRawPointer($0)) }
}

/// A part that splits work again gets it whole on its own thread, instead of waiting for
/// helpers that are busy with the outer job.
@Test func nestedJobsRunWholeOnTheCallingThread() {
    let team = ComputeThreads(count: 2)
    let lock = NSLock()
    var innerParts: [Int] = []
    var innerRanges: [Range<Int>] = []
    team.forEachPart(of: 2) { _, _ in
        team.forEachPart(of: 10) { part, range in
            lock.lock()
            innerParts.append(part)
            innerRanges.append(range)
            lock.unlock()
        }
    }
    #expect(innerParts == [0, 0])
    #expect(innerRanges == [0..<10, 0..<10])
}

/// Helpers that went to sleep between jobs wake for the next one, and the count can change
/// between jobs.
@Test func helpersWakeAfterSleepingAndTheCountCanChange() throws {
    let team = ComputeThreads(count: 2)
    for count in [2, 1, 3] {
        team.setCount(count)
        // Every helper asleep (each spins about 100 µs first; a busy machine may take longer to run them).
        let start = DispatchTime.now().uptimeNanoseconds
        let asleep = { team.sleepers.load(ordering: .sequentiallyConsistent) }
        while asleep() < count - 1 && DispatchTime.now().uptimeNanoseconds - start < 10_000_000_000 { usleep(1_000) }
        try #require(asleep() == count - 1, "\(asleep()) of \(count - 1) helpers asleep after 10 s")
        let lock = NSLock()
        var parts = 0
        team.forEachPart(of: 300) { _, _ in
            lock.lock()
            parts += 1
            lock.unlock()
        }
        #expect(parts == count)
    }
}

/// A product split among 1, 2 or 3 threads, or run whole because the team is busy, gives the
/// same bits: the shapes are this model's, some of whose halves fall below the size at which
/// OpenBLAS's SkylakeX and Cooperlake kernels switch to their small-matrix path (one band of
/// rows per thread gave different bits there). The last three are cut by columns: a weight
/// gradient of 40 outputs, a decoder's first layer on the 25 points of the sampling GIF, conv's
/// weight gradient of 64 channels.
@Test(arguments: [(false, true, 128, 20, 400), (false, true, 128, 400, 20), (false, false, 128, 400, 20),
                  (true, false, 400, 20, 128), (true, false, 784, 400, 128), (false, true, 100, 784, 400),
                  (true, false, 40, 400, 128), (false, true, 25, 1024, 32), (true, false, 64, 288, 6272)])
func sgemmGivesTheSameBitsOnEveryThreadCount(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) {
    var random = Random(seed: 3)
    let a = randomFloats(m * k, random: &random), b = randomFloats(k * n, random: &random)
    func product(on team: ComputeThreads, busy: Bool = false) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    let call = SgemmCall(transA: transA, transB: transB, m: m, n: n, k: k,
                                         a: a.baseAddress!, lda: transA ? m : k, b: b.baseAddress!, ldb: transB ? k : n,
                                         c: c.baseAddress!, ldc: n, beta: 0)
                    if busy {
                        team.forEachPart(of: 2, ClosureJob { part, _ in if part == 0 { call.run(on: team) } })
                    } else {
                        call.run(on: team)
                    }
                }
            }
        }
        return c
    }
    let one = product(on: ComputeThreads(count: 1))
    let two = ComputeThreads(count: 2), three = ComputeThreads(count: 3)
    for (name, c) in [("2 threads", product(on: two)), ("3 threads", product(on: three)),
                      ("team busy", product(on: two, busy: true))] {
        expectIdentical(c, one, name)
    }
}

/// A weight gradient doutᵀ·x of a partial batch, as the last batch of an epoch has: the first 30
/// rows of buffers with room for 512. Split into blocks of rows of doutᵀ, each block must read
/// its own columns of dout; same bits on every thread count would not show it, the product in
/// Double does.
@Test func blockedWeightGradientOfAPartialBatchIsTheProduct() {
    let rows = 30, capacity = 512, outputs = 400, inputs = 20
    #expect(SgemmCall.blocks(m: outputs, n: inputs, k: rows).count > 1, "the product must be made in blocks")
    var random = Random(seed: 4)
    let dout = randomFloats(capacity * outputs, random: &random), x = randomFloats(capacity * inputs, random: &random)
    var dweight = [Float](repeating: 0, count: outputs * inputs)
    sgemm(true, false, outputs, inputs, rows, dout, outputs, x, inputs, &dweight, inputs)
    var worst = 0.0
    for o in 0..<outputs {
        for i in 0..<inputs {
            let sum = (0..<rows).reduce(0.0) { $0 + Double(dout[$1 * outputs + o]) * Double(x[$1 * inputs + i]) }
            worst = worse(worst, abs(Double(dweight[o * inputs + i]) - sum))
        }
    }
    #expect(worst < 1e-4, "largest difference from the product in Double: \(worst)")
}

/// A product with too few rows to cut is cut by columns of C, each block reading its own columns
/// of op(B) (rows of B when it is transposed): same bits on every thread count would not show a
/// block reading the wrong ones, the product in Double does.
@Test(arguments: [(true, false, 40, 400, 128), (false, true, 25, 784, 100)])
func productsCutByColumnsAreTheProduct(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) {
    let blocks = SgemmCall.blocks(m: m, n: n, k: k)
    #expect(!blocks.byRows && blocks.count > 1, "the product must be made in blocks of columns")
    var random = Random(seed: 5)
    let a = randomFloats(m * k, random: &random), b = randomFloats(k * n, random: &random)
    var c = [Float](repeating: 0, count: m * n)
    sgemm(transA, transB, m, n, k, a, transA ? m : k, b, transB ? k : n, &c, n)
    var worst = 0.0
    for i in 0..<m {
        for j in 0..<n {
            let sum = (0..<k).reduce(0.0) { sum, p in
                sum + Double(transA ? a[p * m + i] : a[i * k + p]) * Double(transB ? b[j * k + p] : b[p * n + j])
            }
            worst = worse(worst, abs(Double(c[i * n + j]) - sum))
        }
    }
    #expect(worst < 1e-4, "largest difference from the product in Double: \(worst)")
}

#if arch(x86_64)
/// Every thread that computes flushes denormals: the thread that creates a team (before any
/// job), each helper, and a thread that starts a job on a team it did not create. Each is a
/// thread that never computed before, so nothing set its mode earlier; the helpers are started
/// by yet another such thread (by `setCount`), as a new thread inherits its creator's mode.
/// (Elsewhere than x86-64 the threads keep the IEEE default, so there is nothing to test.)
@Test func everyComputeThreadFlushesDenormals() {
    let denormal = Float.leastNonzeroMagnitude, smallestNormal = Float.leastNormalMagnitude
    /// A denormal operand (DAZ reads it as 0; IEEE gives 2⁻¹¹⁹) and a denormal result (FTZ makes
    /// it 0; IEEE gives 2⁻¹²⁷), computed at run time (the tests build unoptimised).
    func products() -> [Float] { [denormal * 0x1p30, smallestNormal * 0.5] }

    let lock = NSLock()
    var creator: [Float] = []
    var parts: [Int: (thread: UInt, products: [Float])] = [:]
    var caller: UInt = 0
    var team: ComputeThreads?
    onFreshThread {
        team = ComputeThreads(count: 1)
        creator = products()
    }
    onFreshThread { team!.setCount(3) }
    onFreshThread {
        caller = UInt(pthread_self())
        let started = Atomic<Int>(0)
        team!.forEachPart(of: 3) { part, _ in
            // Each part waits for the others to start, so that each runs on a thread of its own.
            started.add(1, ordering: .relaxed)
            while started.load(ordering: .relaxed) < 3 { sched_yield() }
            let seen = products()
            lock.lock()
            parts[part] = (UInt(pthread_self()), seen)
            lock.unlock()
        }
    }
    #expect(creator == [0, 0], "the thread that created the team")
    #expect(parts.count == 3 && Set(parts.values.map(\.thread)).count == 3, "one thread per part: \(parts)")
    #expect(parts.values.contains { $0.thread == caller }, "the calling thread ran a part")
    for (part, seen) in parts.sorted(by: { $0.key < $1.key }) {
        #expect(seen.products == [0, 0], "part \(part)\(seen.thread == caller ? " (the calling thread)" : " (a helper)")")
    }
}

/// Runs `body` on a new thread and waits for it.
private func onFreshThread(_ body: @escaping () -> Void) {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) let body = body  // it has finished when this returns
    let thread = Thread {
        body()
        done.signal()
    }
    thread.start()
    done.wait()
}
#endif
