import FoundationEssentials
import HeapModule
import Synchronization

/// The scripted backend's simulated latency: sleeping requests wait on one timer thread, which
/// resumes every request whose time has come at once, the way an event loop hands back the
/// answers a server sent. `Task.sleep` arms a timer per request instead: at 1,024 dialogues in
/// flight and 20 ms a request that is 51K timers a second; against it this timer kept x1.14–1.41
/// more turns/s in paired runs (`ParleyBench saturation 8192 20 1024`, a 2-core machine). A request that
/// begins to sleep first resumes those whose time has come: at that rate one begins every ~20 µs, sooner
/// than the timer thread wakes up, and on a thread already running (21 alternating runs of each: efficiency
/// median 0.962 -> 0.965, voluntary context switches ~30K -> ~26K; CPU within the noise).
final class LatencyTimer: @unchecked Sendable {
    static let shared = LatencyTimer()

    // Guarded by `condition`.
    private let condition = Condition()
    private var sleepers = Heap<Sleeper>()
    private var waiting: [UInt64: UnsafeContinuation<Void, any Error>] = [:]
    private let nextID = Atomic<UInt64>(0)

    /// False when the system refused the timer thread: then each request sleeps on its own.
    /// Written once, by `init`, before any request reads it.
    private var threaded = false

    private init() {
        threaded = startThread { [self] in run() }
    }

    /// Returns after `seconds`; throws `CancellationError` as soon as the task is cancelled.
    nonisolated(nonsending) func sleep(seconds: Double) async throws {
        guard threaded else {
            // Zero tolerance: the default lets the timer fire late, which would show as engine overhead.
            let wait = Duration.nanoseconds(Int64(seconds * 1e9))
            return try await Task.sleep(until: .now + wait, tolerance: .zero, clock: .continuous)
        }
        let now = MonotonicTime.seconds()
        let deadline = now + seconds
        let id = nextID.add(1, ordering: .relaxed).newValue
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let due = condition.withLock { () -> [UnsafeContinuation<Void, any Error>] in
                    // Checked under the lock: a cancellation before this point finds no sleeper to wake.
                    guard !Task.isCancelled else {
                        continuation.resume(throwing: CancellationError())
                        return []
                    }
                    waiting[id] = continuation
                    sleepers.insert(Sleeper(deadline: deadline, id: id))
                    // A new earliest deadline: the timer thread may be waiting for a later one.
                    if sleepers.min?.id == id { condition.signal() }
                    return takeDue(now: now)
                }
                for c in due { c.resume() }
            }
        } onCancel: {
            let continuation = condition.withLock { waiting.removeValue(forKey: id) }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// The sleepers due at `now`, taken off the heap. Call with the lock held.
    private func takeDue(now: Double) -> [UnsafeContinuation<Void, any Error>] {
        var due: [UnsafeContinuation<Void, any Error>] = []
        while let first = sleepers.min, first.deadline <= now {
            sleepers.removeMin()
            // Absent when its task was cancelled.
            if let continuation = waiting.removeValue(forKey: first.id) { due.append(continuation) }
        }
        return due
    }

    /// The timer thread: sleeps until the earliest deadline, then resumes all that are due (those that a
    /// request beginning to sleep has not resumed already).
    private func run() {
        condition.lock()
        while true {
            let now = MonotonicTime.seconds()
            let due = takeDue(now: now)
            if due.isEmpty {
                if let first = sleepers.min {
                    condition.wait(until: Date(timeIntervalSinceNow: first.deadline - now))
                } else {
                    condition.wait()
                }
                continue
            }
            condition.unlock()
            for continuation in due { continuation.resume() }
            condition.lock()
        }
    }
}

/// A request sleeping until `deadline` (monotonic seconds), earliest first.
private struct Sleeper: Comparable {
    let deadline: Double
    let id: UInt64

    static func < (a: Sleeper, b: Sleeper) -> Bool { (a.deadline, a.id) < (b.deadline, b.id) }
}
