import DequeModule
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ended dialogues waiting for their rows and end records, and the thread that writes them when the CPU is idle.
///
/// Ends come in bursts: dialogues started together end together, as do the requests that one batched step of an
/// inference server answers. Writing an end makes its rows (about 50K instructions for 8 turns,
/// `benchmarks/callgrind`), and on the dialogues' own threads a burst of a thousand ends held back every request
/// due in those milliseconds. Queued here, an end frees its dialogue's slot at once, and one thread makes its rows
/// when no other thread wants the CPU (`SCHED_IDLE` on Linux), then writes them at normal priority, since the
/// dialogues' threads wait on the locks that writing holds. `ParleyBench saturation 8192 20 1024`, 4 alternating
/// pairs: 0.951–0.954 of the Little's-law bound without the queue, 0.964–0.973 with it.
///
/// The caller writes the end itself when the queue is full, or when the thread was lately kept off the CPU while
/// writing one: then no CPU is idle, and moving an end to another thread only adds its costs (at zero latency,
/// about 25 µs an end moved, in context switches and cache misses). A crash loses nothing: a queued dialogue
/// has no end record yet, so a resumed run finishes it again from the journal.
final class EndQueue: @unchecked Sendable {  // the state is guarded by `condition`
    /// Makes one ended dialogue's rows (no lock held), and returns what writes them, under the writer's lock.
    typealias End = @Sendable () throws -> Write
    typealias Write = () throws -> Void

    /// The thread wakes for this many ends, or `gather` seconds after the first: a wake-up per end cost more than
    /// the end.
    private static let batch = 32
    private static let gather = 0.005
    /// An end whose writing waited this long for the CPU means that no CPU is idle; ends are then written by
    /// their callers for `busyPause`.
    private static let busyWait = 0.002
    private static let busyPause = 0.1
    /// SCHED_IDLE and SCHED_OTHER of <linux/sched.h> (Glibc's module leaves SCHED_IDLE out, as a GNU extension).
    private static let idlePolicy: Int32 = 5
    private static let normalPolicy: Int32 = 0

    private let limit: Int
    private let condition = Condition()
    private var queued = Deque<End>()
    /// The thread waits for a first end: an offer wakes it.
    private var sleeping = false
    /// The thread is writing an end that has left the queue: `close` waits for it.
    private var writing = false
    /// The first write that failed; the run stops at it.
    private var failure: (any Error)?
    private var closed = false
    /// Until then (`MonotonicTime`), ends are refused (see `busyWait`).
    private var busyUntil = 0.0
    /// False when the system refused the thread: then every end is written by its caller.
    private var threaded = false

    /// - Parameter limit: the most ends queued; each holds its dialogue in memory.
    init(limit: Int) {
        self.limit = limit
        threaded = startThread { [self] in run() }
    }

    /// Queues `end` for the thread. Returns false when the caller must write it itself: the queue is full or
    /// closed, no CPU is idle, or there is no thread.
    /// - Throws: the failure of an earlier write, so that the run stops at the first.
    func offer(_ end: @escaping End) throws -> Bool {
        try condition.withLock { () throws -> Bool in
            if let failure { throw failure }
            guard threaded, !closed, queued.count < limit, MonotonicTime.seconds() >= busyUntil else { return false }
            queued.append(end)
            if sleeping || queued.count == Self.batch { condition.broadcast() }
            return true
        }
    }

    /// Writes what is still queued on the calling thread (a thread of idle priority may be starved of CPU), waits
    /// for the end the thread is writing, and stops the thread. Call it once the last `offer` has returned.
    /// - Throws: the first failure of a write.
    func close() throws {
        let rest = condition.withLock {
            closed = true
            condition.broadcast()
            defer { queued.removeAll() }
            return Array(queued)
        }
        for end in rest { try end()() }
        try condition.withLock { () throws in
            while writing { condition.wait() }
            if let failure {
                self.failure = nil
                throw failure
            }
        }
    }

    private func run() {
        Self.setPolicy(Self.idlePolicy)
        condition.lock()
        while !closed {
            if queued.isEmpty {
                sleeping = true
                condition.wait()
                sleeping = false
                continue
            }
            if queued.count < Self.batch { _ = condition.wait(until: Date(timeIntervalSinceNow: Self.gather)) }
            while let end = queued.popFirst() {
                writing = true
                condition.unlock()
                var failed: (any Error)?
                let started = (wall: MonotonicTime.seconds(), cpu: Self.threadCPUSeconds())
                do {
                    let write = try end()
                    // Preempted at idle priority while holding the writer's and the journal's locks, it kept the
                    // dialogues' threads waiting until a CPU fell idle.
                    Self.setPolicy(Self.normalPolicy)
                    defer { Self.setPolicy(Self.idlePolicy) }
                    try write()
                } catch { failed = error }
                let waited = MonotonicTime.seconds() - started.wall - (Self.threadCPUSeconds() - started.cpu)
                condition.lock()
                writing = false
                if failure == nil { failure = failed }
                if waited > Self.busyWait { busyUntil = MonotonicTime.seconds() + Self.busyPause }
            }
        }
        condition.broadcast()
        condition.unlock()
    }

    private static func setPolicy(_ policy: Int32) {
        #if os(Linux)
            var parameters = sched_param()
            pthread_setschedparam(pthread_self(), policy, &parameters)
        #endif
    }

    private static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
