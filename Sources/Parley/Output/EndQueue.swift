import DequeModule
import FoundationEssentials
import Synchronization

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
/// pairs: 0.947–0.960 of the Little's-law bound without the queue, 0.966–0.977 with it.
///
/// The caller writes the queue up to its own end when the queue is full, or when the process used more than three
/// quarters of the CPUs over the last tenth of a second: then no CPU is idle, and moving an end to another thread
/// only adds its costs (context switches, cache misses: `ParleyBench overhead` rose by 1 µs a turn and more while a
/// version without this check moved ends at zero latency). A caller whose end is not for the thread makes its rows
/// before it queues it, with no lock held, and when another caller is writing, leaves the end to that one: waiting
/// for another's writes was a futex sleep and wake-up an end. Either way
/// ends are written in the order they were added, so a run of one dialogue at a time writes its rows in seed
/// order. A crash loses nothing: a queued dialogue has no end record yet, so a resumed run finishes it again from
/// the journal.
final class EndQueue: @unchecked Sendable {  // the state is guarded by `condition`
    /// Makes one ended dialogue's rows (no lock held), and returns what writes them, under the writer's lock.
    typealias End = @Sendable () throws -> Write
    typealias Write = @Sendable () throws -> Void

    /// The thread wakes for this many ends, or `gather` seconds after the first: a wake-up per end cost more than
    /// the end.
    private static let batch = 32
    private static let gather = 0.005
    /// The thread writes this many ends under one raise of its priority: a policy change is a system call of
    /// ~4 µs (perf of `benchmarks/http`, whose one-exchange dialogues each end: two changes an end were a tenth of
    /// a run's CPU), and a caller that must write waits for a whole turn.
    private static let turnSize = 8
    /// No CPU is idle when the process used more than this share of the CPUs over the last `window` seconds:
    /// ends are then written by their callers (a window long enough that a burst of ends does not fill it).
    private static let busyShare = 0.75
    private static let window = 0.1
    private static let cpus = Double(max(1, ProcessInfo.processInfo.activeProcessorCount))
    /// SCHED_IDLE and SCHED_OTHER of <linux/sched.h> (Glibc's module leaves SCHED_IDLE out, as a GNU extension).
    private static let idlePolicy: Int32 = 5
    private static let normalPolicy: Int32 = 0

    private let limit: Int
    private let condition = Condition()
    /// Held by whoever writes ends, the thread or a caller, from taking an end off the queue until it is written:
    /// ends are written in the order they were added.
    private let turn = Condition()
    private var queued = Deque<End>()
    /// Ends added and ends taken off the queue, since the start.
    private var added: UInt64 = 0
    private var taken: UInt64 = 0
    /// The first write that failed; the run stops at it.
    private var failure: (any Error)?
    private var closed = false
    /// The process's CPU seconds at the start of the current window, and its time (`MonotonicTime`).
    private var windowCPU = EndQueue.processCPUSeconds()
    private var windowStart = MonotonicTime.seconds()
    /// Whether the last window left no CPU idle: set under `condition`, read before it by `add`.
    private let busy = Atomic<Bool>(false)
    private let alwaysBusy: Bool
    /// Whether the thread holds `turn`.
    private let threadWrites = Atomic<Bool>(false)
    /// The first window is short, so that a run that keeps the CPUs busy from its start is found out at once.
    private var windowLength = 0.01
    /// False when the system refused the thread: then every end is written by its caller.
    private var threaded = false

    /// - Parameters:
    ///   - limit: the most ends queued for the thread; each holds its dialogue in memory.
    ///   - busy: true: as if no CPU were ever idle (for tests); false: measured.
    init(limit: Int, busy: Bool = false) {
        self.limit = limit
        alwaysBusy = busy
        self.busy.store(busy, ordering: .relaxed)
        threaded = startThread { [self] in run() }
    }

    /// Adds `end`, for the thread to write; when the thread cannot take it now, writes the queue up to `end` on the
    /// calling thread: when the queue is full or closed, or there is no thread; or, when no CPU is idle, unless
    /// another caller is writing the queue (who then writes `end` too).
    /// - Throws: the failure of this write or of an earlier one, so that the run stops at the first.
    func add(_ end: @escaping End) throws {
        var end = end
        if busy.load(ordering: .relaxed) {
            // A caller writes this end: its rows are made now, with no lock held. Made under `turn`, they kept
            // the other threads' ends waiting there.
            let write: Write
            do { write = try end() } catch { throw failed(error) }
            end = { write }
        }
        let writer = try condition.withLock { () throws -> Writer in
            if let failure { throw failure }
            queued.append(end)
            added += 1
            measureLoad()
            guard threaded, !closed, queued.count <= limit else { return .caller(through: added) }
            if busy.load(ordering: .relaxed) { return .whoeverIsWriting(through: added) }
            // The thread waits for a first end, then for a batch.
            if queued.count == 1 || queued.count == Self.batch { condition.broadcast() }
            return .thread
        }
        switch writer {
        case .thread: return
        case .caller(let mine): try write(through: mine)
        case .whoeverIsWriting(let mine): try writeUnlessWriting(through: mine)
        }
    }

    /// Who writes an end just added.
    private enum Writer {
        /// The thread, at idle priority.
        case thread
        /// The caller, the queue up to its end.
        case caller(through: UInt64)
        /// The caller when nobody is writing; otherwise the caller writing, who writes the queue to its end.
        case whoeverIsWriting(through: UInt64)
    }

    /// Writes the queue to its end unless another caller is writing it: that one finds the end and writes it (it
    /// looks again once it has let go). Waiting for it was a futex sleep and wake-up an end when the CPUs are busy
    /// and each dialogue's thread writes its own. The queue's thread may be starved at idle priority: the caller
    /// waits for it, and writes through its own end.
    private func writeUnlessWriting(through mine: UInt64) throws {
        repeat {
            guard turn.tryLock() else {
                if threadWrites.load(ordering: .relaxed) { try write(through: mine) }
                return
            }
            defer { turn.unlock() }
            while let end = next(through: .max) { try write([end], boosting: false) }
        } while condition.withLock { !queued.isEmpty }
    }

    /// Writes what is still queued on the calling thread (a thread of idle priority may be starved of CPU), after
    /// the end the thread is writing, and stops the thread. Call it once the last `add` has returned.
    /// - Throws: the first failure of a write.
    func close() throws {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
        try write(through: .max)
        try condition.withLock { () throws in
            if let failure {
                self.failure = nil
                throw failure
            }
        }
    }

    /// Writes ends from the head of the queue until the `last`-th added is written, or the queue is empty.
    private func write(through last: UInt64) throws {
        try turn.withLock { () throws in
            while let end = next(through: last) { try write([end], boosting: false) }
        }
    }

    /// Writes ends in order: their rows at the thread's priority, then their writes at normal priority when
    /// `boosting` (preempted at idle priority while holding the writer's and the journal's locks, the thread kept
    /// the dialogues' threads waiting until a CPU fell idle). A failure is kept, for `add` and `close` to throw.
    private func write(_ ends: [End], boosting: Bool) throws {
        do {
            let writes = try ends.map { try $0() }
            if boosting { Self.setPolicy(Self.normalPolicy) }
            defer { if boosting { Self.setPolicy(Self.idlePolicy) } }
            for write in writes { try write() }
        } catch {
            throw failed(error)
        }
    }

    /// Keeps the first failure, for `add` and `close` to throw; returns `error`.
    private func failed(_ error: any Error) -> any Error {
        condition.withLock { failure = failure ?? error }
        return error
    }

    /// The end at the head of the queue, unless the `last`-th added has been taken.
    private func next(through last: UInt64) -> End? {
        condition.withLock {
            guard taken < last, let end = queued.popFirst() else { return nil }
            taken += 1
            return end
        }
    }

    private func run() {
        Self.setPolicy(Self.idlePolicy)
        // Leaving SCHED_IDLE needs privilege or room under RLIMIT_NICE: without them the writes stay at idle too.
        let boosts = Self.setPolicy(Self.normalPolicy)
        if boosts { Self.setPolicy(Self.idlePolicy) }
        while waitForEnds() {
            // A few ends a turn, so that a caller that must write gets in between.
            while writeNext(boosting: boosts) {}
        }
    }

    /// Writes up to `turnSize` ends from the head of the queue, if there are any (a failure is kept by `write`).
    private func writeNext(boosting: Bool) -> Bool {
        turn.withLock {
            threadWrites.store(true, ordering: .relaxed)
            defer { threadWrites.store(false, ordering: .relaxed) }
            var ends: [End] = []
            while ends.count < Self.turnSize, let end = next(through: .max) { ends.append(end) }
            guard !ends.isEmpty else { return false }
            try? write(ends, boosting: boosting)
            return true
        }
    }

    /// Waits for a batch of ends, or for `gather` after the first; false once the queue is closed.
    private func waitForEnds() -> Bool {
        condition.withLock {
            while !closed {
                if queued.isEmpty {
                    condition.wait()
                    continue
                }
                if queued.count < Self.batch { _ = condition.wait(until: Date(timeIntervalSinceNow: Self.gather)) }
                return true
            }
            return false
        }
    }

    /// Sets the calling thread's scheduling policy; false when the system refused it.
    @discardableResult
    private static func setPolicy(_ policy: Int32) -> Bool {
        #if os(Linux)
            var parameters = sched_param()
            return pthread_setschedparam(pthread_self(), policy, &parameters) == 0
        #else
            return false
        #endif
    }

    /// Updates `busy` once a window has passed (under `condition`).
    private func measureLoad() {
        let now = MonotonicTime.seconds()
        guard !alwaysBusy, now - windowStart >= windowLength else { return }
        let cpu = Self.processCPUSeconds()
        busy.store((cpu - windowCPU) / (now - windowStart) > Self.busyShare * Self.cpus, ordering: .relaxed)
        windowCPU = cpu
        windowStart = now
        windowLength = Self.window
    }

    private static func processCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
