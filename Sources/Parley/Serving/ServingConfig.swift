/// How a backend's requests in flight are bounded.
public enum ConcurrencyMode: String, Sendable, CaseIterable {
    /// Always `max_concurrency` per endpoint.
    case fixed
    /// A limit per endpoint that follows the server (AIMD on overload, Vegas on latency), at most `max_concurrency`.
    case adaptive
}

/// How a fleet spreads dialogues over its endpoints.
public enum Routing: String, Sendable, CaseIterable {
    /// Every request of a dialogue goes to one endpoint (weighted rendezvous hashing with
    /// bounded loads), so the server's prefix cache holds the dialogue's history.
    case affinity
    /// Requests in turn, blind to dialogues: the baseline affinity is measured against.
    case roundRobin = "round_robin"
}

/// One server of a fleet that serves the backend's model.
public struct FleetMember: Sendable, Equatable {
    /// e.g. `http://10.0.0.7:8000/v1`.
    public var baseURL: String
    /// Its share of the dialogues, relative to the others'.
    public var weight: Double = 1

    public init(baseURL: String, weight: Double = 1) {
        self.baseURL = baseURL
        self.weight = weight
    }
}

/// A hosted API's per-minute limits, as token buckets shared by the backend's endpoints.
/// Unset limits are learned from `x-ratelimit-*` response headers when none is set.
public struct RateLimitConfig: Sendable, Equatable {
    public var requestsPerMinute: Double?
    /// Prompt and completion tokens together.
    public var tokensPerMinute: Double?
    public var inputTokensPerMinute: Double?
    public var outputTokensPerMinute: Double?

    public init(
        requestsPerMinute: Double? = nil, tokensPerMinute: Double? = nil, inputTokensPerMinute: Double? = nil,
        outputTokensPerMinute: Double? = nil
    ) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.inputTokensPerMinute = inputTokensPerMinute
        self.outputTokensPerMinute = outputTokensPerMinute
    }

    public var isEmpty: Bool {
        requestsPerMinute == nil && tokensPerMinute == nil && inputTokensPerMinute == nil
            && outputTokensPerMinute == nil
    }
}

/// `run.budget`: what a run may spend. A request that could exceed it is never started.
public struct BudgetConfig: Sendable, Equatable {
    public var maxPromptTokens: Int?
    public var maxCompletionTokens: Int?
    /// In the currency of `prices`.
    public var maxCost: Double?
    /// Per model name (a role's `model`, else its backend's `model`, else the backend's name).
    public var prices: [String: Price] = [:]

    public init(
        maxPromptTokens: Int? = nil, maxCompletionTokens: Int? = nil, maxCost: Double? = nil,
        prices: [String: Price] = [:]
    ) {
        self.maxPromptTokens = maxPromptTokens
        self.maxCompletionTokens = maxCompletionTokens
        self.maxCost = maxCost
        self.prices = prices
    }

    /// Prices per million tokens.
    public struct Price: Sendable, Equatable {
        public var input: Double
        /// Prompt tokens the server served from its cache; `input` when not given.
        public var cachedInput: Double
        public var output: Double

        public init(input: Double, cachedInput: Double? = nil, output: Double) {
            self.input = input
            self.cachedInput = cachedInput ?? input
            self.output = output
        }
    }
}
