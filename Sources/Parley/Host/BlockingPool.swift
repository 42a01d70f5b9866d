import FoundationEssentials

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
/// library. The pool starts threads as work arrives up to the CPU count; beyond it, only
/// when work waits and no job has started for `stall` (every thread is blocked): then it
/// doubles, up to a thread per waiting job, so N blocking calls still come to run N at once
/// (32 calls of 100 ms: 2 -> 32 threads in 4 stalls). Callbacks that return at once, or that
/// take turns on a lock such as Python's GIL, keep the pool near the CPU count instead of
/// hundreds of threads contending for it. Idle threads exit after a while.
public final class BlockingPool: @unchecked Sendable {
    public static let shared = BlockingPool()
    /// How long waiting work sees no job start before the pool grows past `eagerThreads`:
    /// longer than Python's GIL switch interval (5 ms), so a thread holding the GIL that long
    /// does not look like every callback blocked on I/O.
    static let stall = 0.01

    private let condition = Condition()
    // Guarded by `condition`:
    private var queue: [(() -> Void)?] = []
    private var head = 0  // queue[head...] waits; compacted as it grows
    private var threads = 0
    private var idle = 0
    private var started: UInt64 = 0  // jobs begun: the watcher's sign of progress
    private var watching = false
    private let idleSeconds: Double
    private let eagerThreads: Int

    /// - Parameters:
    ///   - idleSeconds: how long a thread with nothing to do waits before it exits.
    ///   - eagerThreads: threads started as soon as work finds none idle; nil: the CPU count.
    public init(idleSeconds: Double = 30, eagerThreads: Int? = nil) {
        self.idleSeconds = idleSeconds
        self.eagerThreads = Swift.max(1, eagerThreads ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Threads alive now (for tests and diagnostics).
    public var threadCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return threads
    }

    /// Runs `work` on a pool thread and returns its result to the awaiting task.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try work() }) }
        }
    }

    private func submit(_ job: @escaping () -> Void) {
        condition.lock()
        queue.append(job)
        if idle >= queue.count - head {
            condition.signal()
        } else if threads < eagerThreads {
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

    /// While work waits beyond the idle threads: every `stall`, if no job started meanwhile,
    /// as many threads again (at most one per waiting job). Leaves after 100 quiet checks.
    private func watch() {
        condition.lock()
        var seen = started
        var quiet = 0
        while quiet < 100 {
            condition.unlock()
            usleep(UInt32(Self.stall * 1e6))
            condition.lock()
            let unserved = queue.count - head - idle
            if unserved <= 0 {
                quiet += 1
            } else {
                quiet = 0
                if started == seen { grow(Swift.min(unserved, Swift.max(threads, 1))) }
            }
            seen = started
        }
        watching = false
        condition.unlock()
    }

    private func worker() {
        condition.lock()
        while true {
            if head < queue.count {
                let job = queue[head]
                queue[head] = nil  // release what the job captured
                head += 1
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
