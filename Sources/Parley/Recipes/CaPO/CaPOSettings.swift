/// `recipe: "capo"` (Parrot's context-aware preference pairs): which rejected answers
/// to make for context-dependent user turns, and Parley's prompts for them.
public struct CaPOSettings: Sendable, Equatable {
    public enum Strategy: String, Sendable, CaseIterable {
        /// The turn answered with the history removed.
        case neglect
        /// The model guesses, without the history, what the turn refers to, then answers its guess.
        case hallucination
        /// The model, seeing the whole history, picks a part of it the turn does not refer to, then
        /// answers the turn as if it did (Parrot's context misunderstanding).
        case misunderstanding
    }

    public var strategies: [Strategy] = Strategy.allCases
    /// Ask the `judge` role to confirm each detected turn (yes/no: understandable alone?), as
    /// Parrot confirms with a strong model. Nil: whenever a judge role is configured.
    public var confirmWithJudge: Bool?
    /// A rejected answer whose ROUGE-L F with the chosen one is at least this is dropped.
    public var nearIdentical = 0.9
    /// Also write `pairs_flat.jsonl`: prompt, chosen and rejected as plain strings.
    public var flat = false
    public var prompts = CaPOPrompts()

    public init() {}
}

/// Parley's CaPO prompts (`capo.prompts`); `{message}` is the user's turn, `{history}` the
/// conversation before it (a `User:`/`Assistant:` transcript), `{referent}` the part picked.
public struct CaPOPrompts: Sendable, Equatable {
    public var guess = """
        Below is the latest message of a user in a conversation whose earlier part you cannot see. \
        It refers to something said before (a pronoun, "that", "the second one", a left-out subject). \
        Guess what it refers to and rewrite the message so that it stands on its own. \
        Reply with the rewritten message only.

        Message: {message}
        """
    public var referent = """
        Below is a conversation, then the user's latest message, which refers to something said earlier. \
        Quote one short passage of the conversation that the latest message does NOT refer to, but that a \
        careless reader could wrongly take it to mean. Reply with the quote only.

        Conversation:
        {history}
        Latest message: {message}
        """
    public var misunderstanding = """
        Take the user's last message to refer to this part of the conversation: "{referent}". \
        Answer it in that light.
        """
}
