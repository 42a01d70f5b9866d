/// The adaptive concurrency limit of one endpoint.
///
/// - Overload (429, 503, a timeout) cuts the limit, once per burst: only a request
///   admitted since the last cut (same `epoch`) cuts again, as in NeMo Data Designer. The
///   cut is to the requests the server still holds (it took those: a measure of what it
///   serves), at most one below the limit and at least half of it.
/// - Queueing: servers such as vLLM and llama.cpp queue instead of rejecting, so the
///   latency per completion token is watched over windows of `limit` requests (TCP Vegas):
///   with `base` the lowest window median seen lately and `now` this window's, the requests
///   waiting in the server's queue are about `limit × (1 − base/now)`. More than `beta`
///   of them: the limit drops to what the server serves without queueing (plus `alpha`);
///   fewer than `alpha`: the limit grows. `base` is the lowest median of the last 256
///   windows, and every 100 windows the limit runs at half for a window, so that `base`
///   stays a measure of the unloaded server rather than creeping up with the limit. The
///   first window after a change of the limit answers requests sent before the change: it
///   is not measured and decides nothing.
/// - Batching: a server that runs its requests as one batch also slows down per token as the
///   batch grows, with nothing queued, while its throughput still rises (llama.cpp with 8
///   slots on 2 CPU cores: the latency alone cut the limit to about 6 in flight, at 66 tokens
///   a second; 8 in flight gave 87). So the completion tokens a second of each limit are
///   measured too, and a cut the latency calls for goes no lower than the lowest limit that
///   gave at least 1/`gain` of this one's throughput lately. When no lower limit did, this
///   one bought its throughput: no cut, and the limit grows (holding below a limit that was
///   cut, as below).
/// - Growth: doubling per measured window at start-up (slow start) until the first sign of
///   overload or queueing, then one per window. Just below a limit that was cut, it holds
///   for `hold` windows before probing one higher, and the hold doubles each time a probe
///   is cut again (up to 64 windows): a server with a hard limit sees few rejections.
public struct ConcurrencyController: Sendable {
    public let mode: ConcurrencyMode
    public let ceiling: Int
    public private(set) var limit: Double
    /// Bumped by each cut; a request carries the epoch it was admitted in.
    public private(set) var epoch = 0
    private var slowStart = true
    private var window: [Double] = []
    private var medians: [Double] = []
    private var cutAt: Double?
    private var hold = 8
    private var held = 0
    private var sinceProbe = 0
    /// The limit to return to after a probe window at half of it.
    private var probingFrom: Double?
    /// Completion tokens a second measured at each limit (smoothed over its windows), with the
    /// window count when last measured: what a cut the latency calls for is checked against.
    private var rates: [Int: (tokensPerSecond: Double, window: Int)] = [:]
    /// Windows so far, and the window at whose end the limit last changed.
    private var windows = 0
    private var changedAt = 0
    /// When the current window's throughput is measured from, and its tokens since.
    private var windowStart: Double?
    private var windowTokens = 0
    /// A lower limit that gives at least 1/`gain` of a higher one's throughput serves as well:
    /// a cut the latency calls for may go down to it, and no lower.
    static let gain = 1.1
    /// Rates older than this many windows are not trusted: the server's load may have changed.
    static let rateLifetime = 200

    /// - Parameter start: the first limit (adaptive); at most `ceiling`.
    public init(mode: ConcurrencyMode, ceiling: Int, start: Int = 4) {
        self.mode = mode
        self.ceiling = max(1, ceiling)
        limit = Double(mode == .fixed ? self.ceiling : min(self.ceiling, max(1, start)))
    }

    /// The limit as a count of requests.
    public var slots: Int { max(1, Int(limit)) }

    /// An answer that says the server is overloaded, while `others` requests were still in
    /// flight. Returns true when it changed the limit.
    public mutating func overloaded(epoch admitted: Int, others: Int = 0) -> Bool {
        guard mode == .adaptive, admitted == epoch else { return false }
        let before = slots
        if let resume = probingFrom {
            limit = resume
            probingFrom = nil
        }
        holdLonger()  // cut again at the level a probe reached: probe less often
        limit = max(1, (limit / 2).rounded(.down), min(limit - 1, Double(others)))
        cut()
        changedAt = windows
        return slots != before
    }

    /// A request answered in `seconds` with `tokens` completion tokens, at monotonic time `at`
    /// (seconds). Returns true when the limit changed.
    public mutating func succeeded(seconds: Double, tokens: Int, at time: Double) -> Bool {
        guard mode == .adaptive else { return false }
        window.append(seconds / Double(max(1, tokens)))
        // Throughput is measured from the previous window's last answer (after a cut, from this
        // window's first answer, whose tokens then do not count).
        if windowStart == nil {
            windowStart = time
        } else {
            windowTokens += max(1, tokens)
        }
        guard window.count >= max(4, slots) else { return false }
        window.sort()
        let now = window[window.count / 2]
        window.removeAll(keepingCapacity: true)
        windows += 1
        let rate = measure(until: time)
        // The first window after a change answers requests sent before it: it measures neither
        // the latency nor the throughput of the new limit, and decides nothing.
        guard windows - changedAt >= 2 else { return false }
        rates[slots] = (rate, windows)
        medians.append(now)
        if medians.count > 256 { medians.removeFirst() }
        let before = slots
        adjust(latency: now, throughput: rate)
        if slots != before { changedAt = windows }
        return slots != before
    }

    /// The decision at the end of a steady window, from its median latency per token and its
    /// smoothed throughput.
    private mutating func adjust(latency now: Double, throughput rate: Double) {
        if let resume = probingFrom {
            probingFrom = nil
            limit = resume
            return
        }
        sinceProbe += 1
        if sinceProbe >= 100 && limit >= 4 && !slowStart {
            sinceProbe = 0
            probingFrom = limit
            limit = (limit / 2).rounded(.down)
            return
        }
        let base = medians.min() ?? now
        let queued = limit * (1 - base / max(now, .leastNonzeroMagnitude))
        let alpha = max(1, limit / 10)
        let beta = max(3, limit / 5)
        if queued > beta {
            let target = max(1, max(limit / 2, (limit * base / now + alpha).rounded(.down)))
            guard let enough = leastLimit(giving: rate) else {
                limit = target  // no lower limit measured lately: latency alone decides
                cutAt = nil
                cut()
                return
            }
            slowStart = false  // from now on, probes at half the limit keep the lower rates fresh
            guard enough < slots else { return grow() }
            holdLonger()
            limit = max(target, Double(enough))
            cut()
        } else if queued < alpha {
            grow()
        } else {
            slowStart = false
        }
    }

    /// Ends the window at `time`: its throughput, averaged with the last one measured at this limit.
    private mutating func measure(until time: Double) -> Double {
        let seconds = time - (windowStart ?? time)
        let measured = seconds > 0 ? Double(windowTokens) / seconds : 0
        windowStart = time
        windowTokens = 0
        let earlier = rates[slots].flatMap { windows - $0.window <= Self.rateLifetime ? $0.tokensPerSecond : nil }
        guard measured > 0 else { return earlier ?? 0 }
        return earlier.map { ($0 + measured) / 2 } ?? measured
    }

    /// The lowest limit below the current one that gave at least `rate / gain` lately; the
    /// current limit when none did; nil when no lower limit was measured lately.
    private func leastLimit(giving rate: Double) -> Int? {
        let lower = rates.filter { level, measured in
            level < slots && windows - measured.window <= Self.rateLifetime
        }
        guard !lower.isEmpty else { return nil }
        return lower.filter { $0.value.tokensPerSecond * Self.gain >= rate }.keys.min() ?? slots
    }

    /// Before a cut from the current limit: a cut again at or above the limit last cut holds
    /// longer below it; a cut on the way down starts afresh.
    private mutating func holdLonger() {
        if let c = cutAt, limit >= c { hold = min(64, hold * 2) } else { hold = 8 }
        cutAt = limit
    }

    private mutating func grow() {
        if slowStart {
            limit = min(Double(ceiling), limit * 2)
            return
        }
        if let c = cutAt, limit + 1 >= c {
            held += 1
            guard held >= hold else { return }
            held = 0
        }
        limit = min(Double(ceiling), limit + 1)
    }

    private mutating func cut() {
        epoch += 1
        slowStart = false
        held = 0
        window.removeAll(keepingCapacity: true)
        windowStart = nil
        windowTokens = 0
    }
}
