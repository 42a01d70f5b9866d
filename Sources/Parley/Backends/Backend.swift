/// What a model is asked for: a chat (`/v1/chat/completions`) or a rendered prompt (`/v1/completions`).
public enum PromptInput: Sendable, Equatable {
    case chat([ChatMessage])
    case text(String)
}

public struct ChatMessage: Sendable, Equatable, Codable {
    public var role: Speaker
    public var content: String
    public init(_ role: Speaker, _ content: String) {
        self.role = role
        self.content = content
    }
}

/// One generation request, with enough identity (dialogue, message index, role) for
/// deterministic backends and for routing a dialogue to the same server.
public struct GenerationRequest: Sendable {
    public var dialogueID: String
    /// The index in the dialogue of the message being written, from 0 (a host sees it as `"turn"`).
    /// A request that writes no message of the dialogue carries the exchange it is about (an eval
    /// judge's: the exchange judged, from 1) or 0.
    public var messageIndex: Int
    public var role: String
    public var prompt: PromptInput
    public var model: String?
    public var maxTokens: Int
    public var temperature: Double
    public var topP: Double
    public var stop: [String]
    /// A sampling seed derived from the run seed, for servers that honour it.
    public var seed: UInt64
    /// The role's `params`: more fields of the request body (`top_k`, `min_p`, `response_format`, …).
    public var params: [String: JSONValue]
    /// 1 for the first try, 2 for the first retry, …
    public var attempt: Int = 1
    /// The prompt's tokens as counted for windowing: what budgets and rate limits reserve.
    public var promptTokens: Int?

    public init(
        dialogueID: String, messageIndex: Int, role: String, prompt: PromptInput, model: String? = nil,
        maxTokens: Int, temperature: Double = 0.7, topP: Double = 1, stop: [String] = [], seed: UInt64 = 0,
        attempt: Int = 1, promptTokens: Int? = nil, params: [String: JSONValue] = [:]
    ) {
        self.params = params
        self.dialogueID = dialogueID
        self.messageIndex = messageIndex
        self.role = role
        self.prompt = prompt
        self.model = model
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.stop = stop
        self.seed = seed
        self.attempt = attempt
        self.promptTokens = promptTokens
    }
}

public struct GenerationResult: Sendable {
    public var text: String
    public var finishReason: String?
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var model: String?
    /// Prompt tokens the server served from its prefix cache, when it says.
    public var cachedPromptTokens: Int?
    /// The rate limits the server announced, if any.
    public var rateLimits: RateLimitHeaders?

    public init(
        text: String, finishReason: String? = nil, promptTokens: Int? = nil,
        completionTokens: Int? = nil, model: String? = nil, cachedPromptTokens: Int? = nil
    ) {
        self.text = text
        self.finishReason = finishReason
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.model = model
        self.cachedPromptTokens = cachedPromptTokens
    }
}

/// A failed attempt. Retryable failures (429, 5xx, timeouts, lost connections) are
/// tried again after a backoff, or after the server's `Retry-After`.
public struct BackendError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var retryable: Bool
    public var retryAfter: Double?
    /// What the attempt met, in a few words (`HTTP 503`, `timeout`, `reset`, `malformed body`):
    /// a failure's reason counts its attempts by kind.
    public var kind: String

    public init(_ message: String, retryable: Bool, retryAfter: Double? = nil, kind: String = "error") {
        self.message = message
        self.retryable = retryable
        self.retryAfter = retryAfter
        self.kind = kind
    }

    public var description: String { message }
}

/// A model server, or anything that writes text for a request.
///
/// Its async requirements run on the caller's executor (`nonisolated(nonsending)`), as the engine's request path
/// does; a conformance that does not say so is `@concurrent` and is reached through a hop to the global executor.
public protocol Backend: Sendable {
    /// One attempt; retries and concurrency limits are the caller's (`ModelEndpoint`).
    nonisolated(nonsending) func generate(_ request: GenerationRequest) async throws -> GenerationResult
    /// How this backend's prompts are counted for context windowing.
    var tokenCounter: any TokenCounter { get }
    /// Whether a server taken out of its fleet is healthy again (default: assume so, and
    /// let the next request tell).
    nonisolated(nonsending) func probe() async -> Bool
}

extension Backend {
    nonisolated(nonsending) public func probe() async -> Bool { true }
}
