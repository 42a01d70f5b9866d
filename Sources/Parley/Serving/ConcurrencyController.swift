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
///   windows, and every 100 windows one window runs at half the limit, so that `base`
///   stays a measure of the unloaded server rather than creeping up with the limit.
/// - Batching: a server that runs its requests as one batch also slows down per token as the
///   batch grows, with nothing queued, while its throughput still rises (llama.cpp with 8
///   slots on 2 CPU cores: the latency alone cut the limit to about 6 in flight, at 66 tokens
///   a second; 8 in flight gave 87). So a cut the latency calls for is made only when the
///   limit did not buy throughput: when the completion tokens a second of the last windows at
///   this limit are less than `gain` times those measured lately at the highest limit at or
///   below the one the cut would reach. Otherwise the limit grows.
/// - Growth: doubling per window at start-up (slow start) until the first sign of
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
    private var windows = 0
    /// When the current window began (the previous one's last answer), and its tokens so far.
    private var windowStart: Double?
    private var windowTokens = 0
    /// How much more throughput a limit must give than the one a cut would reach to be kept.
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
        // Cut again at the level a probe reached: probe less often. A cut on the way down starts afresh.
        if let c = cutAt, limit >= c { hold = min(64, hold * 2) } else { hold = 8 }
        cutAt = limit
        limit = max(1, (limit / 2).rounded(.down), min(limit - 1, Double(others)))
        cut()
        return slots != before
    }

    /// A request answered in `seconds` with `tokens` completion tokens, at monotonic time `at`
    /// (seconds). Returns true when the limit changed.
    public mutating func succeeded(seconds: Double, tokens: Int, at time: Double) -> Bool {
        guard mode == .adaptive else { return false }
        window.append(seconds / Double(max(1, tokens)))
        windowTokens += max(1, tokens)
        if windowStart == nil { windowStart = time - seconds }
        guard window.count >= max(4, slots) else { return false }
        window.sort()
        let now = window[window.count / 2]
        window.removeAll(keepingCapacity: true)
        let rate = measure(until: time)
        medians.append(now)
        if medians.count > 256 { medians.removeFirst() }
        let before = slots
        if let resume = probingFrom {
            probingFrom = nil
            limit = resume
            return slots != before
        }
        sinceProbe += 1
        if sinceProbe >= 100 && limit >= 4 && !slowStart {
            sinceProbe = 0
            probingFrom = limit
            limit = (limit / 2).rounded(.down)
            return true
        }
        let base = medians.min() ?? now
        let queued = limit * (1 - base / max(now, .leastNonzeroMagnitude))
        let alpha = max(1, limit / 10)
        let beta = max(3, limit / 5)
        if queued > beta {
            let target = max(1, max(limit / 2, (limit * base / now + alpha).rounded(.down)))
            if bought(rate, over: Int(target)) {
                slowStart = false  // from now on, probes at half the limit keep the lower rates fresh
                grow()
                return slots != before
            }
            limit = target
            slowStart = false
            cutAt = nil
            cut()
        } else if queued < alpha {
            grow()
        } else {
            slowStart = false
        }
        return slots != before
    }

    /// Ends the window at `time`: its throughput, smoothed with the earlier windows at this limit.
    private mutating func measure(until time: Double) -> Double {
        windows += 1
        let seconds = time - (windowStart ?? time)
        let measured = seconds > 0 ? Double(windowTokens) / seconds : 0
        windowStart = time
        windowTokens = 0
        guard measured > 0 else { return rates[slots]?.tokensPerSecond ?? 0 }
        let earlier = rates[slots].flatMap { windows - $0.window <= Self.rateLifetime ? $0.tokensPerSecond : nil }
        let rate = earlier.map { ($0 + measured) / 2 } ?? measured
        rates[slots] = (rate, windows)
        return rate
    }

    /// Whether `rate`, at the current limit, is worth keeping over a cut to `target`: at least
    /// `gain` times the latest rate measured at the highest limit at or below it.
    private func bought(_ rate: Double, over target: Int) -> Bool {
        let lower = rates.filter { level, measured in
            level <= target && level < slots && windows - measured.window <= Self.rateLifetime
        }
        guard let reference = lower.max(by: { $0.key < $1.key }) else { return false }
        return rate >= Self.gain * reference.value.tokensPerSecond
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
