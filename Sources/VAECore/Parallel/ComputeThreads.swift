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
/// to another thread, about 50 bytes per job, and a training step hands out 11 to 33 jobs.)
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
/// take parts of every job split among them.
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
    /// The team every layer uses: one thread per core (as many as `counts` allows) unless
    /// `setCount` says otherwise.
    public static let shared = ComputeThreads(count: min(ProcessInfo.processInfo.activeProcessorCount,
                                                         counts.upperBound))

    /// The thread counts `setCount` accepts; the command-line tools validate `--threads` by it.
    public static let counts = 1...256

    /// Threads per job, the caller included.
    public var count: Int { threadCount.load(ordering: .relaxed) }
    /// Changed only by `setCount`, which holds the job slot to do so; atomic because any thread
    /// may read it meanwhile.
    private let threadCount = Atomic<Int>(1)

    /// Generations published to the helpers so far: one per `forEachPart` that did not run whole
    /// on the thread that called it, and one per change of `count` away from more than one thread
    /// (which stops the helpers; from one thread there are none to stop). vae-bench
    /// counts a training step's hand-offs as the difference across the step.
    public var jobsHandedOut: Int { ComputeThreads.generation(of: claims.load(ordering: .relaxed)) }

    /// Parts for a pass that streams through memory (Adam, the loss, loading a batch): four per
    /// thread, so that on a busy machine a thread the system stops holds back at most one small
    /// part, the others taking the rest.
    public var streamingParts: Int { 4 * count }

    /// The current job's generation, part count and next unclaimed part, in one word that only
    /// the thread that publishes a job stores and that the threads claim parts from by
    /// compare-and-swap: a thread that wakes late can never claim a part of a later job.
    private let claims = Atomic<Int>(0)
    private let partsDone = Atomic<Int>(0)
    /// Helpers asleep until the next job (the rest spin, or work).
    let sleepers = Atomic<Int>(0)
    private let inUse = Atomic<Bool>(false)
    // Written by the caller before a job's generation is published, read by the threads that
    // claim its parts; the caller keeps them until every claimed part is done.
    // The job's type rather than a closure that calls it: such a closure captures the type on
    // the heap wherever `forEachPart` is not specialised, as in the debug builds the tests run.
    private var job: UnsafeRawPointer?
    /// Where a job without stored properties is said to be. Such a value occupies no memory, and
    /// the address withUnsafePointer gives it in optimised code can be null, which `job` would take
    /// for no job (a helper then stopped on it); reading a job there reads no bytes.
    nonisolated(unsafe) static let addressOfEmptyJobs = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1))
    /// Where the helpers find the job at `pointer`.
    static func slotAddress<Job: SplitJob>(of pointer: UnsafePointer<Job>) -> UnsafeRawPointer {
        MemoryLayout<Job>.size > 0 ? UnsafeRawPointer(pointer) : addressOfEmptyJobs
    }
    private var jobType: (any SplitJob.Type)?
    private var jobWork = 0
    private var jobAlignment = 1
    private var parts = 0
    /// Atomic although the generation that stops the helpers publishes it: a helper may read it
    /// after a job's generation while `stopHelpers` sets it.
    private let stopping = Atomic<Bool>(false)
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

    /// Sets the number of threads, the caller included (at least 1). Waits for a running job, so
    /// a part of a job must never call it: it would wait for itself.
    public func setCount(_ newCount: Int) {
        precondition(ComputeThreads.counts.contains(newCount), "thread count \(newCount) is outside \(ComputeThreads.counts)")
        while !inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { sched_yield() }
        defer { inUse.store(false, ordering: .releasing) }
        guard newCount != count else { return }
        stopHelpers()
        threadCount.store(newCount, ordering: .relaxed)
        // A helper waits for the generations after this one, even if it starts after a job.
        let startGeneration = ComputeThreads.generation(of: claims.load(ordering: .relaxed))
        for _ in 1..<newCount {
            let context = Unmanaged.passRetained(HelperContext(team: self, seen: startGeneration)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { context in
                flush_denormals_on_this_thread()
                let helper = Unmanaged<HelperContext>.fromOpaque(context!).takeRetainedValue()
                helper.team.serve(after: helper.seen)
                return nil
            }, context)
            precondition(status == 0, "cannot start a compute thread (pthread_create: \(status))")
            helpers.append(thread)
        }
    }

    /// Splits `0..<work` into at most `parts` (by default `count`) consecutive, nearly equal
    /// ranges whose bounds are multiples of `alignment` (except the end), and runs
    /// `job.run(part:range:)` on each, the calling thread and the helpers each taking the next
    /// part not yet taken until none is left; `part` counts from 0 and stays below `parts`.
    /// Returns when every part is done. A helper that the system has not scheduled (a busy
    /// machine) holds nothing up: the others take its parts. More parts than threads even out
    /// parts of uneven cost.
    public func forEachPart<Job: SplitJob>(of work: Int, alignment: Int = 1, parts maxParts: Int? = nil, _ job: Job) {
        // The calling thread may be any thread (tests run on a pool); after its first job this
        // only reads MXCSR.
        flush_denormals_on_this_thread()
        let partCount = min(maxParts ?? count, work / alignment, ComputeThreads.counts.upperBound)
        guard partCount > 1, count > 1, inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            if work > 0 { job.run(part: 0, range: 0..<work) }
            return
        }
        defer { inUse.store(false, ordering: .releasing) }
        withUnsafePointer(to: job) { pointer in
            self.job = ComputeThreads.slotAddress(of: pointer)
            jobType = Job.self
            jobWork = work
            jobAlignment = alignment
            parts = partCount
            partsDone.store(0, ordering: .relaxed)
            let generation = publish(parts: partCount)
            var doneHere = 0
            while let part = claim(in: generation) {
                job.run(part: part, range: range(ofPart: part))
                doneHere += 1
            }
            var spins = 0
            while partsDone.load(ordering: .acquiring) < partCount - doneHere {
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

    // The claims word: the generation above bit 18, the part count in bits 9-17, the next
    // unclaimed part in bits 0-8 (parts never exceed `counts.upperBound`, 256).
    private static func generation(of word: Int) -> Int { word >> 18 }

    /// Starts a new generation of `parts` parts (none when stopping), wakes any helper that went
    /// to sleep waiting for it, and returns it.
    @discardableResult
    private func publish(parts: Int) -> Int {
        let generation = ComputeThreads.generation(of: claims.load(ordering: .relaxed)) + 1
        claims.store(generation << 18 | parts << 9, ordering: .sequentiallyConsistent)
        // A helper counts itself in `sleepers` before it last checks the generation, so either
        // it sees the new generation or this sees it and wakes it (both orders are total).
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wakeUp)
            pthread_mutex_unlock(mutex)
        }
        return generation
    }

    /// The next part of generation `generation` that no thread has taken yet, now taken by this
    /// one; nil once all are taken or a later generation has started.
    private func claim(in generation: Int) -> Int? {
        var word = claims.load(ordering: .acquiring)
        while ComputeThreads.generation(of: word) == generation {
            let parts = word >> 9 & 511, next = word & 511
            guard next < parts else { return nil }
            let (exchanged, original) = claims.compareExchange(expected: word, desired: word + 1, ordering: .acquiring)
            if exchanged { return next }
            word = original
        }
        return nil
    }

    /// A helper's life: wait for each new generation, take its parts while any are left, repeat.
    private func serve(after startGeneration: Int) {
        var seen = startGeneration
        while true {
            seen = waitForGeneration(after: seen)
            if stopping.load(ordering: .relaxed) { return }
            while let part = claim(in: seen) {
                jobType!.run(at: job!, part: part, range: range(ofPart: part))
                partsDone.add(1, ordering: .releasing)
            }
        }
    }

    /// Spins for about 100 µs, long enough to bridge the gaps between the jobs of a training
    /// step, then sleeps until `publish` wakes it. Returns the new generation.
    private func waitForGeneration(after seen: Int) -> Int {
        let deadline = DispatchTime.now().uptimeNanoseconds + 100_000
        var spins = 0
        while true {
            let current = ComputeThreads.generation(of: claims.load(ordering: .acquiring))
            if current != seen { return current }
            spins += 1
            if spins % 256 == 0 && DispatchTime.now().uptimeNanoseconds > deadline { break }
        }
        pthread_mutex_lock(mutex)
        sleepers.add(1, ordering: .sequentiallyConsistent)
        var current = ComputeThreads.generation(of: claims.load(ordering: .sequentiallyConsistent))
        while current == seen {
            pthread_cond_wait(wakeUp, mutex)
            current = ComputeThreads.generation(of: claims.load(ordering: .sequentiallyConsistent))
        }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
        return current
    }

    private func stopHelpers() {
        guard !helpers.isEmpty else { return }
        stopping.store(true, ordering: .relaxed)
        publish(parts: 0)
        for thread in helpers { pthread_join(thread, nil) }
        helpers = []
        stopping.store(false, ordering: .relaxed)
    }
}

private final class HelperContext {
    // The team stops and joins its helpers before it goes away.
    unowned(unsafe) let team: ComputeThreads
    let seen: Int
    init(team: ComputeThreads, seen: Int) {
        self.team = team
        self.seen = seen
    }
}
