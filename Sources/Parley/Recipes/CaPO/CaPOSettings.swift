/// `recipe: "capo"` (Parrot's context-aware preference pairs): which rejected answers
/// to make for context-dependent user turns, and Parley's prompts for them.
public struct CaPOSettings: Sendable, Equatable {
    public enum Strategy: String, Sendable, CaseIterable {
        /// The turn answered with the history removed.
        case neglect
        /// The model guesses, without the history, what the turn refers to, then answers its guess.
        case hallucination
        /// The model is shown an unrelated earlier exchange as the referent and answers from it.
        case misunderstanding
    }

    public var strategies: [Strategy] = Strategy.allCases
    /// Ask the `judge` role to confirm each detected turn (yes/no: understandable alone?).
    public var confirmWithJudge = false
    /// A rejected answer whose ROUGE-L F with the chosen one is at least this is dropped.
    public var nearIdentical = 0.9
    /// Also write `pairs_flat.jsonl`: prompt, chosen and rejected as plain strings.
    public var flat = false
    public var prompts = CaPOPrompts()

    public init() {}
}

/// Parley's CaPO prompts (`capo.prompts`); `{message}` is the user's turn.
public struct CaPOPrompts: Sendable, Equatable {
    public var guess = """
        Below is the latest message of a user in a conversation whose earlier part you cannot see. \
        It refers to something said before (a pronoun, "that", "the second one", a left-out subject). \
        Guess what it refers to and rewrite the message so that it stands on its own. \
        Reply with the rewritten message only.

        Message: {message}
        """
    public var misunderstanding = "The user's last message refers to the exchange above; answer it in that light."
}
