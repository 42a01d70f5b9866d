import FoundationEssentials
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs blocking work (a host's model callback that may take seconds) on threads of its
/// own, never on Swift's cooperative pool: that pool is as wide as the CPU count, so
/// blocking it would cap concurrency there and deadlock a callback that re-enters the
/// library. The pool starts with one thread. Every `stall` while work waits, it grows: when
/// no job started meanwhile (every thread is blocked), it doubles, up to a thread per waiting
/// job, so N blocking calls still come to run N at once (32 calls of 100 ms: 32 threads after
/// 5 stalls); when its threads were busy all along with jobs of a millisecond or more, by one
/// thread, up to the CPU count. Callbacks that return at once, or that take turns on a lock such as
/// Python's GIL, keep the pool at a thread or two instead of hundreds contending for them
/// (each hand-off wakes fewer threads). Idle threads exit after a while.
public final class BlockingPool: @unchecked Sendable {
    public static let shared = BlockingPool()
    /// How often the pool checks waiting work. No job start for this long means blocked threads:
    /// it is longer than Python's GIL switch interval (5 ms), so a thread holding the GIL that
    /// long does not look like every callback blocked on I/O.
    static let stall = 0.01

    private let condition = Condition()
    // Guarded by `condition`:
    private var queue: [(() -> Void)?] = []
    private var head = 0  // queue[head...] waits; compacted as it grows
    private var threads = 0
    private var idle = 0
    private var polling = 0  // idle threads polling `waiting` before they sleep
    /// Jobs waiting, readable without the lock (kept equal to `queue.count - head`).
    private let waiting = Atomic<Int>(0)
    private var started: UInt64 = 0  // jobs begun: the watcher's sign of progress
    private var waits: UInt64 = 0  // times a thread found nothing to do: the pool kept up
    private var watching = false
    private let idleSeconds: Double
    private let cpus: Int

    /// - Parameters:
    ///   - idleSeconds: how long a thread with nothing to do waits before it exits.
    ///   - cpus: the threads a lasting backlog grows the pool to; nil: the CPU count.
    public init(idleSeconds: Double = 30, cpus: Int? = nil) {
        self.idleSeconds = idleSeconds
        self.cpus = Swift.max(1, cpus ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Threads alive now (for tests and diagnostics).
    public var threadCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return threads
    }

    /// Runs `work` on a pool thread and returns its result to the awaiting task.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        // Unsafe (unchecked): every queued job runs exactly once, and the check cost an allocation a call.
        try await withUnsafeThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try work() }) }
        }
    }

    private func submit(_ job: @escaping () -> Void) {
        condition.lock()
        queue.append(job)
        waiting.store(queue.count - head, ordering: .relaxed)
        if idle >= queue.count - head {
            if queue.count - head > polling { condition.signal() }
        } else if threads == 0 {
            grow(1)
        } else if !watching {
            watching = startThread { [self] in watch() }
            if !watching { grow(1) }
        }
        condition.unlock()
    }

    /// Starts up to `count` threads. Call with the lock held.
    private func grow(_ count: Int) {
        for _ in 0..<count {
            // Host callbacks (Python through ctypes) may need deep stacks. A thread the system
            // refuses is not counted: the job waits for one of the others.
            guard startThread(stackSize: 8 << 20, { [self] in worker() }) else { return }
            threads += 1
        }
    }

    /// While work waits beyond the idle threads, every `stall`: as many threads again (at most
    /// one per waiting job) if no job started meanwhile; else one more, up to `cpus`, if no
    /// thread ran out of work meanwhile and jobs took a millisecond or more (for shorter ones
    /// the hand-offs cost more than the CPU gained: measured with benchmarks/c). Leaves after
    /// 100 checks without waiting work.
    private func watch() {
        condition.lock()
        var (seenStarts, seenWaits) = (started, waits)
        var quiet = 0
        while quiet < 100 {
            condition.unlock()
            usleep(UInt32(Self.stall * 1e6))
            condition.lock()
            let unserved = queue.count - head - idle
            if unserved > 0 && started == seenStarts {
                grow(Swift.min(unserved, Swift.max(threads, 1)))
            } else if unserved > 0 && waits == seenWaits && threads < cpus && started - seenStarts < 10 * threads {
                grow(1)  // busy all along with jobs of a millisecond or more: another CPU helps
            }
            quiet = unserved > 0 ? 0 : quiet + 1
            (seenStarts, seenWaits) = (started, waits)
        }
        watching = false
        condition.unlock()
    }

    /// Whether work came while the thread polled `waiting` a little, yielding the CPU between looks,
    /// before it sleeps. A callback that answers at once leaves its thread idle only as long as the
    /// engine takes to make the next request: polling spares that hand-off's futex sleep and wake-up
    /// (benchmarks/c's callback run: 28-30K context switches -> 8.5-8.9K, `perf stat`). Call with the lock held.
    private func pollBeforeSleeping() -> Bool {
        polling += 1
        condition.unlock()
        var looks = 0
        while looks < Self.polls, waiting.load(ordering: .relaxed) == 0 {
            sched_yield()
            looks += 1
        }
        condition.lock()
        polling -= 1
        return head < queue.count
    }

    private static let polls = 20

    private func worker() {
        condition.lock()
        while true {
            if head < queue.count {
                let job = queue[head]
                queue[head] = nil  // release what the job captured
                head += 1
                waiting.store(queue.count - head, ordering: .relaxed)
                started &+= 1
                if head > 64 && head * 2 > queue.count {
                    queue.removeFirst(head)
                    head = 0
                }
                condition.unlock()
                job?()
                condition.lock()
                continue
            }
            idle += 1
            waits &+= 1
            if pollBeforeSleeping() {
                idle -= 1
                continue
            }
            let signalled = condition.wait(until: Date(timeIntervalSinceNow: idleSeconds))
            idle -= 1
            if !signalled && head == queue.count {  // a quiet spell: leave
                threads -= 1
                condition.unlock()
                return
            }
        }
    }
}
