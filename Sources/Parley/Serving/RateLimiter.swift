import FoundationEssentials

/// A backend's per-minute limits (requests, tokens, input and output tokens), shared by
/// every endpoint of its fleet since a hosted API counts them per key. A request reserves
/// one request, its counted prompt tokens and its `max_tokens`; the answer's usage gives
/// back what it did not use. With no configured limit, the limits the server announces
/// in `x-ratelimit-*` headers are learned and honoured.
public final class RateLimiter: Sendable {
    struct Buckets: Sendable {
        var requests: TokenBucket?
        var tokens: TokenBucket?
        var input: TokenBucket?
        var output: TokenBucket?
    }

    /// What one request holds until it is settled.
    public struct Reservation: Sendable {
        var prompt: Int
        var completion: Int
    }

    private let buckets: Locked<Buckets>
    private let learns: Bool

    public init(_ config: RateLimitConfig, now: Double = MonotonicTime.seconds()) {
        learns = config.isEmpty
        buckets = Locked(
            Buckets(
                requests: config.requestsPerMinute.map { TokenBucket(perMinute: $0, now: now) },
                tokens: config.tokensPerMinute.map { TokenBucket(perMinute: $0, now: now) },
                input: config.inputTokensPerMinute.map { TokenBucket(perMinute: $0, now: now) },
                output: config.outputTokensPerMinute.map { TokenBucket(perMinute: $0, now: now) }))
    }

    /// Waits until every bucket admits the request, then takes its share of each.
    nonisolated(nonsending) public func acquire(prompt: Int, maxTokens: Int) async throws -> Reservation {
        while true {
            let wait = buckets.withLock { b -> Double in
                let now = MonotonicTime.seconds()
                let waits = [
                    b.requests?.wait(now: now), b.tokens?.wait(now: now), b.input?.wait(now: now),
                    b.output?.wait(now: now),
                ]
                let longest = waits.compactMap { $0 }.max() ?? 0
                guard longest <= 0 else { return longest }
                b.requests?.take(1, now: now)
                b.tokens?.take(Double(prompt + maxTokens), now: now)
                b.input?.take(Double(prompt), now: now)
                b.output?.take(Double(maxTokens), now: now)
                return 0
            }
            if wait <= 0 { return Reservation(prompt: prompt, completion: maxTokens) }
            try await Task.sleep(nanoseconds: UInt64(min(wait, 60) * 1e9) + 1_000_000)
        }
    }

    /// Gives back what a request did not use: `used` is its usage (nil: a failed attempt, which used nothing).
    public func settle(_ r: Reservation, used: (prompt: Int, completion: Int)?) {
        let prompt = min(r.prompt, used?.prompt ?? 0)
        let completion = min(r.completion, used?.completion ?? 0)
        buckets.withLock { b in
            if used == nil { b.requests?.refund(1) }
            b.tokens?.refund(Double(r.prompt + r.completion - prompt - completion))
            b.input?.refund(Double(r.prompt - prompt))
            b.output?.refund(Double(r.completion - completion))
        }
    }

    /// Honours the limits a response announces, when the config sets none.
    public func learn(_ h: RateLimitHeaders) {
        guard learns, h.limitRequests != nil || h.limitTokens != nil else { return }
        buckets.withLock { b in
            let now = MonotonicTime.seconds()
            if let limit = h.limitRequests {
                if b.requests == nil { b.requests = TokenBucket(perMinute: limit, now: now) }
                b.requests?.learn(perMinute: limit, remaining: h.remainingRequests, now: now)
            }
            if let limit = h.limitTokens {
                if b.tokens == nil { b.tokens = TokenBucket(perMinute: limit, now: now) }
                b.tokens?.learn(perMinute: limit, remaining: h.remainingTokens, now: now)
            }
        }
    }
}

/// The `x-ratelimit-*` headers of a response (OpenAI's names; limits per minute).
public struct RateLimitHeaders: Sendable, Equatable {
    public var limitRequests: Double?
    public var limitTokens: Double?
    public var remainingRequests: Double?
    public var remainingTokens: Double?

    public init(
        limitRequests: Double? = nil, limitTokens: Double? = nil, remainingRequests: Double? = nil,
        remainingTokens: Double? = nil
    ) {
        self.limitRequests = limitRequests
        self.limitTokens = limitTokens
        self.remainingRequests = remainingRequests
        self.remainingTokens = remainingTokens
    }

    public init?(_ field: (String) -> String?) {
        func number(_ name: String) -> Double? {
            field(name).flatMap { Double($0.trimmingWhitespace()) }
        }
        self.init(
            limitRequests: number("x-ratelimit-limit-requests"), limitTokens: number("x-ratelimit-limit-tokens"),
            remainingRequests: number("x-ratelimit-remaining-requests"),
            remainingTokens: number("x-ratelimit-remaining-tokens"))
        if limitRequests == nil && limitTokens == nil { return nil }
    }
}
