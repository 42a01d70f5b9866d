/// `recipe: "selftalk"`: workflows, the people who play them, limits and filters.
public struct SelfTalkSettings: Sendable, Equatable {
    /// A file with one workflow object or a list of them (read when the run starts).
    public var workflows: String = ""
    public var personas: Config.ListSource?
    public var intentions: Config.ListSource?
    public var characters: Config.ListSource?
    /// Agent–client exchanges at most (the paper's 8).
    public var maxTurns = 8
    /// ROUGE-L F at which an agent utterance reaches a workflow node.
    public var reachThreshold = 0.33
    /// Words that close the conversation, looked for in the last two utterances.
    public var closingKeywords = ["goodbye", "bye"]
    /// Filters applied when the whole run is done (top p% needs all of it); nil: off.
    public var minSubgoals: Int?
    public var topPercent: Double?
    public var endedOnly = false
    /// The manager and the stage role answer JSON under a schema (servers with structured output);
    /// a reply that is not such JSON is read as text. Each step and stage records which it was.
    public var structured = false
    public var prompts = SelfTalkPrompts()

    public init() {}
}

/// Parley's Self-talk prompts (`selftalk.prompts`).
public struct SelfTalkPrompts: Sendable, Equatable {
    public var client =
        "You are {persona}. You are talking to a customer-service agent because {intention}. Keep your messages short "
        + "and natural, one or two sentences. When your matter is settled, thank the agent and say goodbye."
    public var agent =
        "You are {character}, an agent helping a customer. Follow your company's procedure step by step; keep each "
        + "message short."
    public var next = "Your next step in the procedure: say, in your own words: \"{step}\""
    public var offScript =
        "The customer's reply does not fit the procedure: answer it naturally and briefly, then steer back to the "
        + "procedure."
    public var manager =
        "A customer-service procedure expects one of the answers below. Which one matches the customer's last reply?"
    public var stage =
        "Below is the latest part of a conversation between a customer and an agent. Is the conversation at its start, "
        + "in the middle, or at its end? Answer with one word: start, middle or end."
}
