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

    nonisolated(nonsending) public func generate(_ request: GenerationRequest) async throws -> GenerationResult {
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
        var continuation: UnsafeContinuation<GenerationResult, any Error>
    }
    private struct State {
        var nextID: UInt64 = 0
        /// Oldest first. A deque: a take pops its batch off the front without moving the rest
        /// (an array's `removeFirst` copied the whole queue, retaining every request, per take).
        var queued: Deque<Waiting> = []
        var taken: [OwnKey: UnsafeContinuation<GenerationResult, any Error>] = [:]
        /// Hosts blocked in `take`: only they need a wake-up when a request arrives.
        var takers = 0
    }
    /// One lock for the state and the hosts' wait, so a request's arrival takes it once.
    private let condition = Condition()
    private nonisolated(unsafe) var state = State()  // guarded by `condition`

    public init(tokenCounter: any TokenCounter = EstimatingTokenCounter()) { self.tokenCounter = tokenCounter }

    nonisolated(nonsending) public func generate(_ request: GenerationRequest) async throws -> GenerationResult {
        let id = condition.withLock {
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            // Unsafe (unchecked): a continuation leaves `queued` or `taken` under the lock, exactly once.
            try await withUnsafeThrowingContinuation { continuation in
                let cancelled = condition.withLock { () -> Bool in
                    if Task.isCancelled { return true }
                    state.queued.append(Waiting(ticket: Ticket(id: id, request: request), continuation: continuation))
                    if state.takers > 0 { condition.broadcast() }
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let c = condition.withLock { () -> UnsafeContinuation<GenerationResult, any Error>? in
                if let i = state.queued.firstIndex(where: { $0.ticket.id == id }) {
                    return state.queued.remove(at: i).continuation
                }
                return state.taken.removeValue(forKey: OwnKey(id))
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Up to `max` waiting requests, oldest first, waiting up to `timeout` seconds for the first.
    /// Blocks the calling thread: call it from a host thread, not from a Swift task.
    public func take(max: Int, timeout: Double) -> [Ticket] {
        let deadline = Date(timeIntervalSinceNow: timeout.isFinite ? Swift.min(Swift.max(0, timeout), 1e7) : 1e7)
        condition.lock()
        defer { condition.unlock() }
        while max > 0 && state.queued.isEmpty {
            state.takers += 1
            let woken = condition.wait(until: deadline)
            state.takers -= 1
            if !woken && state.queued.isEmpty { return [] }
        }
        let n = Swift.min(Swift.max(0, max), state.queued.count)
        var batch: [Ticket] = []
        batch.reserveCapacity(n)
        for _ in 0..<n {
            let w = state.queued.removeFirst()
            state.taken[OwnKey(w.ticket.id)] = w.continuation
            batch.append(w.ticket)
        }
        return batch
    }

    /// Answers a taken request. Returns false for an unknown or already answered ticket.
    @discardableResult
    public func submit(_ id: UInt64, _ result: Result<GenerationResult, BackendError>) -> Bool {
        submit([(id, result)]).isEmpty
    }

    /// Answers several taken requests: all or none. Returns the tickets that are unknown
    /// or already answered (or repeated); when there are any, nothing is delivered.
    public func submit(_ answers: [(ticket: UInt64, result: Result<GenerationResult, BackendError>)]) -> [UInt64] {
        let (bad, continuations) = condition.withLock {
            () -> ([UInt64], [UnsafeContinuation<GenerationResult, any Error>?]) in
            var seen = Set<OwnKey>()
            let bad = answers.map(\.ticket).filter {
                state.taken[OwnKey($0)] == nil || !seen.insert(OwnKey($0)).inserted
            }
            guard bad.isEmpty else { return (bad, []) }
            return ([], answers.map { state.taken.removeValue(forKey: OwnKey($0.ticket)) })
        }
        Self.resume(continuations, with: answers)
        return bad
    }

    /// Answers taken requests each on its own: a ticket no longer taken (its dialogue was cancelled, or it was
    /// answered already) is passed over. For a host that answers what it took by position, not by ticket.
    public func answer(_ answers: [(ticket: UInt64, result: Result<GenerationResult, BackendError>)]) {
        let continuations = condition.withLock {
            answers.map { state.taken.removeValue(forKey: OwnKey($0.ticket)) }
        }
        Self.resume(continuations, with: answers)
    }

    /// Resumes each waiting dialogue (nil: no longer waiting) with its answer, outside the lock.
    private static func resume(
        _ continuations: [UnsafeContinuation<GenerationResult, any Error>?],
        with answers: [(ticket: UInt64, result: Result<GenerationResult, BackendError>)]
    ) {
        for (c, a) in zip(continuations, answers) { c?.resume(with: a.result.mapError { $0 as any Error }) }
    }

    /// Requests waiting to be taken, and taken but not answered.
    public var pending: (queued: Int, taken: Int) { condition.withLock { (state.queued.count, state.taken.count) } }
}
