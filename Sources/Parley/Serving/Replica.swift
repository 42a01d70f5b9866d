/// One server of a backend's fleet: its backend, its own concurrency limit (fixed or
/// adaptive), its circuit breaker and its counts. A backend with one server has one.
public final class Replica: Sendable {
    /// The server's base URL, or the backend's name when it has none (scripted, host).
    public let url: String
    public let weight: Double
    public let backend: any Backend
    let limiter: RequestLimiter

    /// What was sent to the server and what it answered.
    public struct Counts: Sendable, Equatable {
        /// Attempts sent.
        public var requests = 0
        public var failures = 0
        /// Failed attempts by kind (`BackendError.kind`: `HTTP 503`, `timeout`, …).
        public var failureKinds: [String: Int] = [:]
        /// Answers 429.
        public var rateLimited = 0
        public var promptTokens = 0
        /// Prompt tokens the server served from its prefix cache, where it says so.
        public var cachedPromptTokens = 0
        public var completionTokens = 0
        public var circuitOpens = 0
    }

    /// The concurrency limit over time: (seconds since the process started, limit) at each change.
    public typealias Trace = [(seconds: Double, limit: Int)]

    private struct State {
        var control: ConcurrencyController
        var breaker = CircuitBreaker()
        var counts = Counts()
        var pausedUntil = 0.0
        var trace: Trace = []
        /// Told each answered request's seconds (the live metrics' histogram).
        var latency: (@Sendable (Double) -> Void)?
    }

    private let state: Locked<State>
    static let traceCapacity = 1000

    init(url: String, weight: Double, backend: any Backend, settings: BackendCommon) {
        self.url = url
        self.weight = weight
        self.backend = backend
        let control = ConcurrencyController(mode: settings.concurrency, ceiling: settings.maxConcurrency)
        limiter = RequestLimiter(limit: control.slots)
        state = Locked(State(control: control, trace: [(MonotonicTime.seconds(), control.slots)]))
    }

    public var counts: Counts { state.withLock { $0.counts } }
    public var limit: Int { limiter.limit }
    public var trace: Trace { state.withLock { $0.trace } }
    public var healthy: Bool { state.withLock { $0.breaker.isClosed } }
    public var concurrency: ConcurrencyController { state.withLock { $0.control } }

    /// Calls `observe` with the seconds of each answered request from now on; nil: stops.
    func observeLatency(_ observe: (@Sendable (Double) -> Void)?) {
        state.withLock { $0.latency = observe }
    }

    /// Waits out a `Retry-After` pause and for a slot; returns the epoch the request is admitted in.
    @inline(__always)
    nonisolated(nonsending) func admit() async throws -> Int {
        let pausedUntil = state.withLock { $0.pausedUntil }
        // The clock only when a pause was ever set (0: never): six readings a request were ~3% of a scripted
        // turn's time (`perf`); this one and the answer's second are gone.
        if pausedUntil > 0 {
            let pause = pausedUntil - MonotonicTime.seconds()
            if pause > 0 { try await Task.sleep(nanoseconds: UInt64(pause * 1e9)) }
        }
        try await limiter.acquire()
        return state.withLock { s in
            s.counts.requests += 1
            return s.control.epoch
        }
    }

    /// Records an answer to a request sent at `started` (`MonotonicTime`). When it changes the concurrency
    /// limit, the limiter takes the new one and `changed` is called with it, both under the replica's lock:
    /// concurrent changes reach the limiter and the observers in the order the trace records them.
    func succeeded(_ r: GenerationResult, started: Double, changed: (Int) -> Void) {
        let now = MonotonicTime.seconds()
        let seconds = now - started
        state.withLock { s in
            s.counts.promptTokens += r.promptTokens ?? 0
            s.counts.cachedPromptTokens += r.cachedPromptTokens ?? 0
            s.counts.completionTokens += r.completionTokens ?? 0
            s.breaker.succeeded()
            s.latency?(seconds)
            let tokens = r.completionTokens ?? 1
            if s.control.succeeded(seconds: seconds, tokens: tokens, at: now) { apply(record(&s), changed) }
        }
    }

    /// Records a failed attempt; returns whether it took the server out of the fleet. A change
    /// of the concurrency limit is handled as in `succeeded`.
    func failed(_ e: BackendError, epoch: Int, changed: (Int) -> Void) -> Bool {
        let now = MonotonicTime.seconds()
        return state.withLock { s in
            s.counts.failures += 1
            s.counts.failureKinds[e.kind, default: 0] += 1
            if e.kind == "HTTP 429" { s.counts.rateLimited += 1 }
            if let after = e.retryAfter, e.kind == "HTTP 429" || e.kind == "HTTP 503" {
                s.pausedUntil = max(s.pausedUntil, now + min(after, 300))
            }
            let overload = e.kind == "HTTP 429" || e.kind == "HTTP 503" || e.kind == "timeout"
            if overload && s.control.overloaded(epoch: epoch, others: limiter.inFlight) { apply(record(&s), changed) }
            let opened = s.breaker.failed(kind: e.kind, now: now)
            if opened { s.counts.circuitOpens += 1 }
            return opened
        }
    }

    private func apply(_ limit: Int, _ changed: (Int) -> Void) {
        limiter.setLimit(limit)
        changed(limit)
    }

    /// When the next probe of an open circuit is due (nil: closed).
    var probeAt: Double? {
        state.withLock { s in
            if case .open(let at) = s.breaker.state { return at }
            return nil
        }
    }

    func probed(healthy: Bool) {
        state.withLock { s in
            if healthy { s.breaker.succeeded() } else { s.breaker.probeFailed(now: MonotonicTime.seconds()) }
        }
    }

    /// Appends the new limit to the trace (halving its resolution when full); returns it.
    private func record(_ s: inout State) -> Int {
        if s.trace.count >= Self.traceCapacity {
            s.trace = s.trace.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        }
        s.trace.append((MonotonicTime.seconds(), s.control.slots))
        return s.control.slots
    }
}
