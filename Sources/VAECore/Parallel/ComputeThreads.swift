#if canImport(Glibc)
import Glibc
#endif
import CFloatingPointMode
import COpenBLAS
import Foundation
import Synchronization

/// Work that `ComputeThreads.forEachPart` shares out among the threads: a value holding what
/// its parts need. The helpers reach the caller's copy through a pointer, so handing a job over
/// allocates nothing. (A closure would: Swift copies its captured context to the heap to hand it
/// to another thread, about 50 bytes per job, 35 times a training step.)
public protocol SplitJob {
    /// Does the work in `range`, part `part` (counting from 0) of the job.
    func run(part: Int, range: Range<Int>)
}

extension SplitJob {
    /// Runs part `part` of the job at `job`, which holds a `Self`: a helper knows the current
    /// job only by its type and address.
    fileprivate static func run(at job: UnsafeRawPointer, part: Int, range: Range<Int>) {
        job.assumingMemoryBound(to: Self.self).pointee.run(part: part, range: range)
    }
}

/// The threads a training step runs on: the calling thread plus `count - 1` helpers, which
/// take one part each of every job split among them.
///
/// Why not OpenBLAS's own threads: on two cores they sped this model's products (128 rows by a
/// few hundred columns) up only 1.24x over one thread, and spun in sched_yield between calls.
/// Splitting each product's rows here and calling single-threaded OpenBLAS from every thread
/// made the same products take 1.7-2.1 s per epoch where OpenBLAS's threads took 2.75 s, and lets
/// the elementwise passes use every core too.
///
/// Every split loop does the same arithmetic on each element whatever the number of parts, so
/// results are bit-identical for every thread count. A job started while another thread is
/// already using the team (concurrent tests, or a part that itself splits) runs whole on the
/// thread that started it.
///
/// Every thread that computes flushes denormals to zero (FTZ and DAZ, see floating_point_mode.h),
/// as XLA's and oneDNN's threads do: the helpers from their start, the thread that creates the
/// team at once, and any other thread that starts a job when it does, so that a part computes
/// the same bits on whichever thread it lands.
public final class ComputeThreads: @unchecked Sendable {
    /// The team every layer uses: one thread per core unless `setCount` says otherwise.
    public static let shared = ComputeThreads(count: ProcessInfo.processInfo.activeProcessorCount)

    /// The thread counts `setCount` accepts; the command-line tools validate `--threads` by it.
    public static let counts = 1...256

    /// Threads per job, the caller included.
    public private(set) var count = 1

    private let generation = Atomic<Int>(0)
    private let partsDone = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let inUse = Atomic<Bool>(false)
    // Written by the caller before a job's generation is published, read by the helpers after.
    // The job's type rather than a closure that calls it: such a closure captures the type on
    // the heap wherever `forEachPart` is not specialised, as in the debug builds the tests run.
    private var job: UnsafeRawPointer?
    private var jobType: (any SplitJob.Type)?
    private var jobWork = 0
    private var jobAlignment = 1
    private var parts = 0
    private var stopping = false
    private var helpers: [pthread_t] = []
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeUp = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init(count: Int) {
        flush_denormals_on_this_thread()
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wakeUp, nil)
        // Every thread calls OpenBLAS on its own part; OpenBLAS threads on top would oversubscribe.
        openblas_set_num_threads(1)
        setCount(count)
    }

    deinit {
        stopHelpers()
        pthread_cond_destroy(wakeUp)
        pthread_mutex_destroy(mutex)
        wakeUp.deallocate()
        mutex.deallocate()
    }

    /// Sets the number of threads, the caller included (at least 1). Waits for a running job.
    public func setCount(_ newCount: Int) {
        precondition(ComputeThreads.counts.contains(newCount), "thread count \(newCount) is outside \(ComputeThreads.counts)")
        while !inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { sched_yield() }
        defer { inUse.store(false, ordering: .releasing) }
        guard newCount != count else { return }
        stopHelpers()
        count = newCount
        // A helper waits for the generations after this one, even if it starts after a job.
        let startGeneration = generation.load(ordering: .relaxed)
        for index in 1..<newCount {
            let context = Unmanaged.passRetained(HelperContext(team: self, index: index, seen: startGeneration)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { context in
                flush_denormals_on_this_thread()
                let helper = Unmanaged<HelperContext>.fromOpaque(context!).takeRetainedValue()
                helper.team.serve(part: helper.index, after: helper.seen)
                return nil
            }, context)
            precondition(status == 0, "cannot start a compute thread (pthread_create: \(status))")
            helpers.append(thread)
        }
    }

    /// Splits `0..<work` into at most `count` consecutive, nearly equal ranges whose bounds are
    /// multiples of `alignment` (except the end), and runs `job.run(part:range:)` on each at the
    /// same time, one per thread; `part` counts from 0 and stays below `count`. Returns when
    /// every part is done.
    public func forEachPart<Job: SplitJob>(of work: Int, alignment: Int = 1, _ job: Job) {
        // The calling thread may be any thread (tests run on a pool); after its first job this
        // only reads MXCSR.
        flush_denormals_on_this_thread()
        let partCount = min(count, work / alignment)
        guard partCount > 1, inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            if work > 0 { job.run(part: 0, range: 0..<work) }
            return
        }
        defer { inUse.store(false, ordering: .releasing) }
        withUnsafePointer(to: job) { pointer in
            self.job = UnsafeRawPointer(pointer)
            jobType = Job.self
            jobWork = work
            jobAlignment = alignment
            parts = partCount
            partsDone.store(0, ordering: .relaxed)
            publish()
            job.run(part: 0, range: range(ofPart: 0))
            var spins = 0
            while partsDone.load(ordering: .acquiring) < partCount - 1 {
                spins += 1
                if spins > 10_000 { sched_yield() }
            }
            self.job = nil
        }
    }

    /// Part `part` of the current job: its bounds are the multiples of the alignment nearest to
    /// its share of the work.
    private func range(ofPart part: Int) -> Range<Int> {
        func bound(_ part: Int) -> Int {
            part == parts ? jobWork : (2 * part * jobWork + parts * jobAlignment) / (2 * parts * jobAlignment) * jobAlignment
        }
        return bound(part)..<bound(part + 1)
    }

    /// Starts a new generation and wakes any helper that went to sleep waiting for it.
    private func publish() {
        generation.add(1, ordering: .sequentiallyConsistent)
        // A helper counts itself in `sleepers` before it last checks the generation, so either
        // it sees the new generation or this sees it and wakes it (both orders are total).
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wakeUp)
            pthread_mutex_unlock(mutex)
        }
    }

    /// A helper's life: wait for each new generation, run its part if the job has one, repeat.
    private func serve(part: Int, after startGeneration: Int) {
        var seen = startGeneration
        while true {
            seen = waitForGeneration(after: seen)
            if stopping { return }
            if part < parts {
                jobType!.run(at: job!, part: part, range: range(ofPart: part))
                partsDone.add(1, ordering: .releasing)
            }
        }
    }

    /// Spins for about 100 µs, long enough to bridge the gaps between the jobs of a training
    /// step, then sleeps until `publish` wakes it.
    private func waitForGeneration(after seen: Int) -> Int {
        let deadline = DispatchTime.now().uptimeNanoseconds + 100_000
        var spins = 0
        while true {
            let current = generation.load(ordering: .acquiring)
            if current != seen { return current }
            spins += 1
            if spins % 256 == 0 && DispatchTime.now().uptimeNanoseconds > deadline { break }
        }
        pthread_mutex_lock(mutex)
        sleepers.add(1, ordering: .sequentiallyConsistent)
        var current = generation.load(ordering: .sequentiallyConsistent)
        while current == seen {
            pthread_cond_wait(wakeUp, mutex)
            current = generation.load(ordering: .sequentiallyConsistent)
        }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
        return current
    }

    private func stopHelpers() {
        guard !helpers.isEmpty else { return }
        stopping = true
        publish()
        for thread in helpers { pthread_join(thread, nil) }
        helpers = []
        stopping = false
    }
}

private final class HelperContext {
    // The team stops and joins its helpers before it goes away.
    unowned(unsafe) let team: ComputeThreads
    let index: Int
    let seen: Int
    init(team: ComputeThreads, index: Int, seen: Int) {
        self.team = team
        self.index = index
        self.seen = seen
    }
}
