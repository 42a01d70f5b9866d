/// What CaPO journals for a dialogue, in the order made; the finished dialogue's row carries
/// them as `meta.capo`.
enum CaPORecord: RecipeRecord, Equatable {
    /// A user turn that leans on the history, and whether pairs are made for it (`"select"`).
    case selection(Selection)
    /// One rejected answer for a selected turn (`"pair"`).
    case pair(Pair)

    struct Selection: Codable, Sendable, Equatable {
        /// The user turn, a 1-based exchange number.
        var turn: Int
        /// Why it leans on the history (the context cue found in it).
        var cue: String
        var selected: Bool
        /// The judge's answer, with `capo.confirm_with_judge` (absent without; nil when unreadable).
        var confirmed: Bool?
    }

    struct Pair: Codable, Sendable, Equatable {
        var turn: Int
        var strategy: String
        /// Hallucination: the model's guess at what the turn refers to.
        @Nullable var guess: String? = nil
        /// Misunderstanding: the part of the history the model picked as the turn's (wrong) referent.
        @Nullable var referent: Referent? = nil
        /// The rejected answer (nil when none could be made).
        @Nullable var rejected: String? = nil
        /// Why the pair is left out of `pairs.jsonl` (nil: it is written).
        @Nullable var dropped: String? = nil
        var promptTokens: Int?
        var completionTokens: Int?

        enum CodingKeys: String, CodingKey {
            case turn, strategy, guess, referent, rejected, dropped
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
        }
    }

    struct Referent: Codable, Sendable, Equatable {
        /// The 1-based exchange whose message holds the quote (nil when no message does verbatim).
        @Nullable var turn: Int?
        /// The model's quote.
        var text: String
    }

    var selectionValue: Selection? { if case .selection(let s) = self { s } else { nil } }
    var pairValue: Pair? { if case .pair(let p) = self { p } else { nil } }

    init(from decoder: Decoder) throws {
        switch try decoder.recordKind() {
        case "select": self = .selection(try Selection(from: decoder))
        case "pair": self = .pair(try Pair(from: decoder))
        case let kind: throw decoder.unknownRecordKind(kind)
        }
    }

    func encode(to encoder: Encoder) throws {
        switch self {
        case .selection(let s): try encoder.encodeRecord(s, kind: "select")
        case .pair(let p): try encoder.encodeRecord(p, kind: "pair")
        }
    }

    var tally: RecordTally {
        switch self {
        case .selection(let s):
            RecordTally(kind: "select", outcome: s.selected ? nil : .rejected)
        case .pair(let p):
            RecordTally(
                kind: "pair", outcome: p.dropped == nil ? nil : .dropped, promptTokens: p.promptTokens ?? 0,
                completionTokens: p.completionTokens ?? 0)
        }
    }
}
