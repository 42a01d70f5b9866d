/// How `recipe: "eval"` evaluates (the `eval` section of the config).
public struct EvalSettings: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// The judge rates each turn's answer 1–10.
        case single
        /// The judge compares two candidates' answers to each turn, in both orders.
        case pairwise
    }

    public var mode: Mode = .single
    /// The candidate's sampling temperature per category (others: the role's temperature).
    /// MT-Bench's choice: creative categories warm, exact ones greedy.
    public var temperatures: [String: Double] = [
        "writing": 0.7, "roleplay": 0.7, "stem": 0.1, "humanities": 0.1,
        "extraction": 0, "math": 0, "coding": 0, "reasoning": 0,
    ]
    /// Judge requests per turn (single mode): the score is their mean, the spread is reported.
    public var judgeSamples = 1
    /// Times the judge is asked again when its answer has no readable verdict.
    public var reask = 2
    /// Pairwise: when the two orders disagree, count a tie (true) or an inconsistency (false).
    public var inconsistentAsTie = false
    public var prompts = EvalPrompts()
    /// A FastChat `judge_prompts.jsonl` whose prompts replace Parley's (MT-Bench's protocol).
    public var judgePrompts: String?
    /// Ask the judge for a JSON verdict under a schema (servers with structured output), so
    /// that verdicts parse; the brackets are still read when a server ignores the schema.
    public var structured = false

    public init() {}
}

/// Parley's judge prompts; every one can be replaced in the config (`eval.prompts`).
/// Placeholders: `{turn}` (1-based), `{turns}` (the session's length), `{reference}`.
public struct EvalPrompts: Sendable, Equatable {
    public var system =
        "You are an impartial, strict judge of AI assistants. You rate answers consistently and never favour length or "
        + "style over substance."
    public var single = """
        Above is a conversation between a user and an AI assistant, up to turn {turn} of {turns}. \
        Rate the assistant's last answer, to the user's last message, from 1 to 10: is it correct, helpful, \
        relevant and as detailed as the question needs, and does it use the earlier conversation where the \
        message refers to it (pronouns, "that one", "the second option")? Be strict: 10 only for an answer that \
        could not be better. Give one or two sentences of reasoning, then the rating in double brackets, \
        for example: Rating: [[6]]
        """
    public var reference = """
        A reference answer to the user's last message: {reference}
        Judge the answer against it; an answer that contradicts it is wrong.
        """
    public var pairwise = """
        Above are two conversations of the same user with two AI assistants, A and B, up to turn {turn} of {turns}. \
        Compare the assistants' last answers, to the user's last message: which is more correct, helpful and \
        relevant, and which uses the earlier conversation better where the message refers to it? Do not let the \
        order of the conversations, the length of the answers or the assistants' names sway you. Give one or two \
        sentences of reasoning, then your verdict in double brackets: [[A]] if A's answer is better, [[B]] if B's \
        is better, [[C]] for a tie.
        """
    public var reask =
        "Your reply had no verdict in the required form. Answer again and end with the verdict in double brackets, "
        + "exactly as asked."
}
