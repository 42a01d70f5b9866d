import FoundationEssentials

/// Runs blocking work (a host's model callback that may take seconds) on threads of its
/// own, never on Swift's cooperative pool: that pool is as wide as the CPU count, so
/// blocking it would cap concurrency there and deadlock a callback that re-enters the
/// library. The pool starts a new thread whenever every thread is busy, and idle
/// threads exit after a while, so N blocking calls really run N at once.
public final class BlockingPool: @unchecked Sendable {
    public static let shared = BlockingPool()

    private let condition = Condition()
    private var queue: [(() -> Void)?] = []
    private var head = 0  // queue[head...] waits; compacted as it grows
    private var threads = 0
    private var idle = 0
    private let idleSeconds: Double

    public init(idleSeconds: Double = 30) { self.idleSeconds = idleSeconds }

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
        if idle < queue.count - head {
            // Every thread is busy (or already spoken for): grow.
            threads += 1
            // Host callbacks (Python through ctypes) may need deep stacks. A thread the system
            // refuses is not counted: the job waits for one of the others.
            if !startThread(stackSize: 8 << 20, { [self] in worker() }) { threads -= 1 }
        } else {
            condition.signal()
        }
        condition.unlock()
    }

    private func worker() {
        condition.lock()
        while true {
            if head < queue.count {
                let job = queue[head]
                queue[head] = nil  // release what the job captured
                head += 1
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
