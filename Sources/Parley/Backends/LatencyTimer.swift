import FoundationEssentials

/// The scripted backend's simulated latency: sleeping requests wait on one timer thread, which
/// resumes every request whose time has come at once, the way an event loop hands back the
/// answers a server sent. `Task.sleep` arms a timer per request instead: at 1,024 dialogues in
/// flight and 20 ms a request that is 51K timers a second; against it this timer kept x1.14–1.41
/// more turns/s in paired runs (`ParleyBench saturation 8192 20 1024`, a 2-core machine).
final class LatencyTimer: @unchecked Sendable {
    static let shared = LatencyTimer()

    // Guarded by `condition`.
    private let condition = Condition()
    private var sleepers = DeadlineHeap()
    private var waiting: [UInt64: UnsafeContinuation<Void, any Error>] = [:]
    private var nextID: UInt64 = 0

    /// False when the system refused the timer thread: then each request sleeps on its own.
    /// Written once, by `init`, before any request reads it.
    private var threaded = false

    private init() {
        threaded = startThread { [self] in run() }
    }

    /// Returns after `seconds`; throws `CancellationError` as soon as the task is cancelled.
    func sleep(seconds: Double) async throws {
        guard threaded else {
            // Zero tolerance: the default lets the timer fire late, which would show as engine overhead.
            let wait = Duration.nanoseconds(Int64(seconds * 1e9))
            return try await Task.sleep(until: .now + wait, tolerance: .zero, clock: .continuous)
        }
        let deadline = MonotonicTime.seconds() + seconds
        let id = condition.withLock {
            nextID += 1
            return nextID
        }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                condition.withLock {
                    // Checked under the lock: a cancellation before this point finds no sleeper to wake.
                    guard !Task.isCancelled else { return continuation.resume(throwing: CancellationError()) }
                    waiting[id] = continuation
                    if sleepers.push(deadline, id) { condition.signal() }
                }
            }
        } onCancel: {
            let continuation = condition.withLock { waiting.removeValue(forKey: id) }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// The timer thread: sleeps until the earliest deadline, then resumes all that are due.
    private func run() {
        condition.lock()
        while true {
            let now = MonotonicTime.seconds()
            var due: [UnsafeContinuation<Void, any Error>] = []
            while let (deadline, id) = sleepers.first, deadline <= now {
                sleepers.pop()
                // Absent when its task was cancelled.
                if let continuation = waiting.removeValue(forKey: id) { due.append(continuation) }
            }
            if due.isEmpty {
                if let (deadline, _) = sleepers.first {
                    condition.wait(until: Date(timeIntervalSinceNow: deadline - now))
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

/// A binary min-heap of (deadline, id).
private struct DeadlineHeap {
    private var items: [(deadline: Double, id: UInt64)] = []

    var first: (Double, UInt64)? { items.first.map { ($0.deadline, $0.id) } }

    /// Adds an entry; returns whether it is the new earliest.
    mutating func push(_ deadline: Double, _ id: UInt64) -> Bool {
        items.append((deadline, id))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].deadline < items[parent].deadline else { break }
            items.swapAt(i, parent)
            i = parent
        }
        return i == 0
    }

    mutating func pop() {
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let left = 2 * i + 1
            let right = left + 1
            var smallest = i
            if left < items.count && items[left].deadline < items[smallest].deadline { smallest = left }
            if right < items.count && items[right].deadline < items[smallest].deadline { smallest = right }
            if smallest == i { return }
            items.swapAt(i, smallest)
            i = smallest
        }
    }
}
