/// Which quality filters a run applies to its finished dialogues (`filters` in the
/// config). Each is off unless configured; each says what to do with a dialogue
/// that fails it: `trim` (cut before the offending exchange, keep the dialogue if it
/// still has `turns.min` exchanges) or `drop` (to `filtered.jsonl`).
public struct FilterConfig: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable, Codable { case trim, drop }
    public enum Unit: String, Sendable, CaseIterable { case words, chars }

    /// User turns shorter than `min` or longer than `max`.
    public struct UserLength: Sendable, Equatable {
        public var min: Int?
        public var max: Int?
        public var unit: Unit = .words
        public var action: Action = .drop
    }
    /// A user turn whose ROUGE-L F with an earlier user turn of the dialogue is ≥ `threshold`.
    public struct Repeat: Sendable, Equatable {
        public var threshold = 0.8
        public var action: Action = .trim
    }
    /// Corpus duplicates, always dropped: the same first user turn, or the same whole
    /// dialogue, as a dialogue already kept (after lower-casing and keeping words only).
    public struct Duplicates: Sendable, Equatable {
        public var firstTurn = true
        public var dialogue = true
    }
    /// A user turn made only of thanks and pleasantries ("Thanks, that's great!").
    public struct PoliteCloser: Sendable, Equatable {
        /// The turn is a closer when every word is in `words` and one is in `core`.
        public var words = PoliteCloser.defaultWords
        public var core = PoliteCloser.defaultCore
        public var action: Action = .trim
        public static let defaultCore = [
            "thanks", "thank", "thx", "welcome", "bye", "goodbye", "cheers", "appreciate", "appreciated",
        ]
        public static let defaultWords =
            defaultCore + [
                "you", "you're", "youre", "so", "much", "very", "a", "lot", "again", "really", "ok", "okay", "great",
                "awesome", "perfect", "cool", "nice", "i", "that's", "thats", "that", "this", "it", "is", "was",
                "helpful",
                "for", "your", "the", "help", "have", "day", "good", "got", "alright", "sounds", "all", "wonderful",
                "amazing",
                "most", "super", "excellent", "many", "anyway", "too", "see", "ya", "later", "bye-bye", "oh", "wow",
                "yes", "no", "problem",
            ]
    }
    /// A generated message cut by its token limit (finish reason `length`).
    public struct Truncated: Sendable, Equatable {
        public var action: Action = .trim
    }
    /// A user turn that reads like an assistant's answer: it contains one of `phrases`,
    /// or it is at least `minWords` long and `lengthRatio` times the median of the
    /// dialogue's other user turns.
    public struct RoleExchange: Sendable, Equatable {
        public var phrases = RoleExchange.defaultPhrases
        public var lengthRatio = 3.0
        public var minWords = 40
        public var action: Action = .trim
        public static let defaultPhrases = [
            "as an ai", "as a language model", "as an assistant", "i am an ai", "i'm an ai", "sure here is",
            "sure here's", "certainly here is", "certainly here's", "here is a", "here's a", "i'd be happy to help",
            "i hope this helps", "let me know if you have any", "feel free to ask", "is there anything else i can",
        ]
    }
    /// Any message containing a listed term (whole words, case-insensitive).
    public struct Blocklist: Sendable, Equatable {
        public var terms: [String] = []
        /// One term per line; read when the run starts.
        public var file: String?
        public var action: Action = .drop
    }

    public var userLength: UserLength?
    public var repeats: Repeat?
    public var duplicates: Duplicates?
    public var politeCloser: PoliteCloser?
    public var truncated: Truncated?
    public var roleExchange: RoleExchange?
    public var blocklist: Blocklist?

    public init() {}

    public var isEmpty: Bool { self == FilterConfig() }

    /// Filter names as decisions and summaries report them, in the order they are checked.
    public static let names = [
        "user_length", "repeat", "polite_closer", "role_exchange", "truncated", "blocklist", "duplicates",
    ]
}

/// One filter's verdict on one dialogue: which filter, at which exchange (1-based), what was done.
public struct FilterDecision: Sendable, Equatable, Codable {
    public var filter: String
    public var turn: Int
    public var action: FilterConfig.Action
    public var detail: String

    public init(filter: String, turn: Int, action: FilterConfig.Action, detail: String) {
        self.filter = filter
        self.turn = turn
        self.action = action
        self.detail = detail
    }
}
