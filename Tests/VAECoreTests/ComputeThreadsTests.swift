import Foundation
import Testing
import VAECore

/// A closure as a job, for tests; the library's jobs are values that allocate nothing.
struct ClosureJob: SplitJob {
    let body: (_ part: Int, _ range: Range<Int>) -> Void
    func run(part: Int, range: Range<Int>) { body(part, range) }
}

extension ComputeThreads {
    func forEachPart(of work: Int, alignment: Int = 1, _ body: @escaping (_ part: Int, _ range: Range<Int>) -> Void) {
        forEachPart(of: work, alignment: alignment, ClosureJob(body: body))
    }
}

/// Each index of the work lands in exactly one part, parts start on the alignment, and the
/// parts really run on different threads at the same time.
@Test(arguments: [(1, 1), (100, 1), (1000, 16), (1000, 64), (37, 16)])
func partsCoverTheWorkOnceOnSeparateThreads(work: Int, alignment: Int) {
    let team = ComputeThreads(count: 3)
    // The parts only record what they saw; the expectations run on the test's own task.
    let lock = NSLock()
    var seen = [Int](repeating: 0, count: work)
    var threadsByPart: [Int: pthread_t] = [:]
    var ranges: [(part: Int, range: Range<Int>)] = []
    team.forEachPart(of: work, alignment: alignment) { part, range in
        lock.lock()
        for i in range { seen[i] += 1 }
        threadsByPart[part] = pthread_self()
        ranges.append((part, range))
        lock.unlock()
    }
    #expect(ranges.allSatisfy { $0.part < 3 }, "\(ranges)")
    #expect(ranges.allSatisfy { $0.range.lowerBound % alignment == 0 }, "\(ranges)")
    #expect(seen.allSatisfy { $0 == 1 })
    let expectedParts = max(1, min(3, work / alignment))
    #expect(threadsByPart.count == expectedParts)
    #expect(Set(threadsByPart.values.map { UInt($0) }).count == expectedParts, "one thread per part")
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
@Test func helpersWakeAfterSleepingAndTheCountCanChange() {
    let team = ComputeThreads(count: 2)
    for count in [2, 1, 3] {
        team.setCount(count)
        usleep(5_000)  // longer than a helper spins before it sleeps
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
