/// Who speaks a message, as chat APIs name it.
public enum Speaker: String, Codable, Sendable, Hashable {
    case system, user, assistant
}

/// What Parley knows about how one generated message came to be.
public struct TurnMeta: Codable, Sendable, Equatable {
    /// The configured role that produced it ("asker", "assistant", …).
    public var role: String
    public var model: String?
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var latencyMs: Int?
    public var finishReason: String?
    public var attempts: Int

    public init(
        role: String, model: String? = nil, promptTokens: Int? = nil, completionTokens: Int? = nil,
        latencyMs: Int? = nil, finishReason: String? = nil, attempts: Int = 1
    ) {
        self.role = role
        self.model = model
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.latencyMs = latencyMs
        self.finishReason = finishReason
        self.attempts = attempts
    }

    /// In the order written (synthesized coding follows the cases' order).
    enum CodingKeys: String, CodingKey {
        case role, model
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case latencyMs = "latency_ms"
        case finishReason = "finish_reason"
        case attempts
    }
}

/// One message of a dialogue. `meta` is nil for messages that were given (seeds), not generated.
public struct Message: Codable, Sendable, Equatable {
    public var speaker: Speaker
    public var content: String
    public var meta: TurnMeta?

    public init(_ speaker: Speaker, _ content: String, meta: TurnMeta? = nil) {
        self.speaker = speaker
        self.content = content
        self.meta = meta
    }

    enum CodingKeys: String, CodingKey {
        case speaker = "role"
        case content, meta
    }
}
