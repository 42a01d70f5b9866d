/// An async semaphore bounding requests in flight against one backend. Waiters are
/// served in order; cancellation removes a waiter. The limit can change while running.
public final class RequestLimiter: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var limit: Int
        var inFlight = 0
        var nextID: UInt64 = 0
        var waiters: [Waiter] = []
        var head = 0  // waiters[head...] are waiting; compacted as it grows
    }
    private let state: Locked<State>

    public init(limit: Int) { state = Locked(State(limit: max(1, limit))) }

    public var limit: Int { state.withLock { $0.limit } }
    public var inFlight: Int { state.withLock { $0.inFlight } }

    @inline(__always)
    nonisolated(nonsending) public func acquire() async throws {
        let id: UInt64? = state.withLock { s in
            if s.inFlight < s.limit {
                s.inFlight += 1
                return nil
            }
            s.nextID += 1
            return s.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { s in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if s.inFlight < s.limit {
                        s.inFlight += 1
                        return .success(())
                    }
                    s.waiters.append(Waiter(id: id, continuation: c))
                    return nil
                }
                if let outcome { c.resume(with: outcome) }
            }
        } onCancel: {
            let cancelled: CheckedContinuation<Void, any Error>? = state.withLock { s in
                guard let i = s.waiters[s.head...].firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    public func release() {
        // Nobody waiting (the usual case): the slot is given back under one lock. An optional continuation handed
        // out of the lock went through generic value witnesses every time (~650 instructions, benchmarks/callgrind).
        let waiting = state.withLock { s -> Bool in
            if s.inFlight <= s.limit, s.head < s.waiters.count { return true }
            s.inFlight -= 1
            return false
        }
        guard waiting else { return }
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            // The slot passes to a waiter, unless a lowered limit wants it back.
            if s.inFlight <= s.limit, let w = Self.popWaiter(&s) { return w.continuation }
            s.inFlight -= 1
            return nil
        }
        next?.resume()
    }

    /// Changes the limit; a larger limit wakes waiters at once, a smaller one takes effect
    /// as requests in flight end.
    public func setLimit(_ newLimit: Int) {
        let woken = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.limit = max(1, newLimit)
            var out: [CheckedContinuation<Void, any Error>] = []
            while s.inFlight < s.limit, let w = Self.popWaiter(&s) {
                s.inFlight += 1
                out.append(w.continuation)
            }
            return out
        }
        for c in woken { c.resume() }
    }

    private static func popWaiter(_ s: inout State) -> Waiter? {
        guard s.head < s.waiters.count else { return nil }
        let w = s.waiters[s.head]
        s.head += 1
        if s.head > 64 && s.head * 2 > s.waiters.count {
            s.waiters.removeFirst(s.head)
            s.head = 0
        }
        return w
    }
}
