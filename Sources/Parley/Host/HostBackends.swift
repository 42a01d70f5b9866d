import DequeModule
import FoundationEssentials

/// A host's own model as a backend, called with each request. `generate` may block
/// (a C or Python callback): it runs on `BlockingPool`, never on Swift's cooperative pool,
/// unless the host promises it never blocks (`blocking: false`).
public final class CallbackBackend: Backend {
    public typealias Generate = @Sendable (GenerationRequest) throws -> GenerationResult
    private let answer: Generate
    private let pool: BlockingPool?
    public let tokenCounter: any TokenCounter

    /// - Parameters:
    ///   - pool: where a blocking callback runs.
    ///   - blocking: false: `generate` answers at once (no I/O, no waiting), so it is called on
    ///     the requesting task's thread, without a hand-off to `pool` and back.
    public init(
        tokenCounter: any TokenCounter = EstimatingTokenCounter(), pool: BlockingPool = .shared,
        blocking: Bool = true, generate: @escaping Generate
    ) {
        self.answer = generate
        self.pool = blocking ? pool : nil
        self.tokenCounter = tokenCounter
    }

    public func generate(_ request: GenerationRequest) async throws -> GenerationResult {
        guard let pool else { return try answer(request) }
        let work = answer
        return try await pool.run { try work(request) }
    }
}

/// The pull API: requests wait in a queue until the host takes a batch of them
/// (`take`), generates them however it likes — one batched call to a local inference
/// engine — and hands the results back (`submit`). No foreign thread calls the host.
public final class PullBackend: Backend {
    public let tokenCounter: any TokenCounter

    /// A request handed to the host, with the ticket to answer it by.
    public struct Ticket: Sendable {
        public var id: UInt64
        public var request: GenerationRequest
    }

    private struct Waiting {
        var ticket: Ticket
        var continuation: CheckedContinuation<GenerationResult, any Error>
    }
    private struct State {
        var nextID: UInt64 = 0
        /// Oldest first. A deque: a take pops its batch off the front without moving the rest
        /// (an array's `removeFirst` copied the whole queue, retaining every request, per take).
        var queued: Deque<Waiting> = []
        var taken: [UInt64: CheckedContinuation<GenerationResult, any Error>] = [:]
    }
    private let state = Locked(State())
    private let arrival = Condition()
    /// Hosts blocked in `take` (guarded by `arrival`): only they need a wake-up.
    private nonisolated(unsafe) var takers = 0

    public init(tokenCounter: any TokenCounter = EstimatingTokenCounter()) { self.tokenCounter = tokenCounter }

    public func generate(_ request: GenerationRequest) async throws -> GenerationResult {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let cancelled = state.withLock { s -> Bool in
                    if Task.isCancelled { return true }
                    s.queued.append(Waiting(ticket: Ticket(id: id, request: request), continuation: continuation))
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
                arrival.lock()
                if takers > 0 { arrival.broadcast() }
                arrival.unlock()
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<GenerationResult, any Error>? in
                if let i = s.queued.firstIndex(where: { $0.ticket.id == id }) {
                    return s.queued.remove(at: i).continuation
                }
                return s.taken.removeValue(forKey: id)
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Up to `max` waiting requests, oldest first, waiting up to `timeout` seconds for the first.
    /// Blocks the calling thread: call it from a host thread, not from a Swift task.
    public func take(max: Int, timeout: Double) -> [Ticket] {
        let deadline = Date(timeIntervalSinceNow: timeout.isFinite ? Swift.min(Swift.max(0, timeout), 1e7) : 1e7)
        while true {
            let batch = state.withLock { s -> [Ticket] in
                let n = Swift.min(Swift.max(0, max), s.queued.count)
                var batch: [Ticket] = []
                batch.reserveCapacity(n)
                for _ in 0..<n {
                    let w = s.queued.removeFirst()
                    s.taken[w.ticket.id] = w.continuation
                    batch.append(w.ticket)
                }
                return batch
            }
            if !batch.isEmpty || max <= 0 { return batch }
            arrival.lock()
            let hasWork = state.withLock { !$0.queued.isEmpty }
            takers += 1
            let timedOut = !hasWork && !arrival.wait(until: deadline)
            takers -= 1
            arrival.unlock()
            if timedOut { return [] }
        }
    }

    /// Answers a taken request. Returns false for an unknown or already answered ticket.
    @discardableResult
    public func submit(_ id: UInt64, _ result: Result<GenerationResult, BackendError>) -> Bool {
        submit([(id, result)]).isEmpty
    }

    /// Answers several taken requests: all or none. Returns the tickets that are unknown
    /// or already answered (or repeated); when there are any, nothing is delivered.
    public func submit(_ answers: [(ticket: UInt64, result: Result<GenerationResult, BackendError>)]) -> [UInt64] {
        let (bad, continuations) = state.withLock {
            s -> ([UInt64], [CheckedContinuation<GenerationResult, any Error>]) in
            var seen = Set<UInt64>()
            let bad = answers.map(\.ticket).filter { s.taken[$0] == nil || !seen.insert($0).inserted }
            guard bad.isEmpty else { return (bad, []) }
            return ([], answers.compactMap { s.taken.removeValue(forKey: $0.ticket) })
        }
        for (c, a) in zip(continuations, answers) { c.resume(with: a.result.mapError { $0 as any Error }) }
        return bad
    }

    /// Requests waiting to be taken, and taken but not answered.
    public var pending: (queued: Int, taken: Int) { state.withLock { ($0.queued.count, $0.taken.count) } }
}
