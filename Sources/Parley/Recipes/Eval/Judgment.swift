import FoundationEssentials

/// A judge's finished verdict on one turn of an evaluated session: a 1–10 score
/// (single mode) or a preference (pairwise), or neither — *unscored*, with the judge's
/// raw text kept. Journaled when complete, so a resume never judges a turn twice.
/// Eval's record (journaled as made; in a dataset row's `meta.judgments`): this type's `Codable`
/// conformance is its one schema, fields in the order written.
public struct Judgment: RecipeRecord, Equatable {
    /// The turn judged, 1-based.
    public var turn: Int
    /// Single mode: the mean of the parsed samples; nil when none parsed.
    @Nullable public var score: Double?
    public var samples: [Double] = []
    /// Pairwise: "a", "b", "tie" or "inconsistent"; nil when an order could not be parsed.
    @Nullable public var verdict: String?
    /// Pairwise: what each order said ("a", "b", "tie", or "unparsed"), A shown first, then B first.
    public var orders: [String] = []
    /// Every text the judge wrote for this turn, re-asks included.
    public var raw: [String] = []
    /// Judge requests made (samples, orders and re-asks).
    public var requests: Int = 0
    /// The request seed of the first request (what the server was sent).
    public var seed: Int = 0
    @Nullable public var model: String?
    public var promptTokens = 0
    public var completionTokens = 0
    /// With `eval.structured`: whether every verdict of the turn came from a schema-constrained
    /// JSON reply (false: the server ignored the schema and the brackets were read).
    public var structured: Bool?

    public init(turn: Int) { self.turn = turn }

    public var unscored: Bool { score == nil && verdict == nil }

    /// Counted in `summary.json` as `judged_turns` and `unscored_turns`, for every ended session.
    public var tally: RecordTally {
        RecordTally(
            kind: nil, counters: ["judged_turns": 1, "unscored_turns": unscored ? 1 : 0], promptTokens: promptTokens,
            completionTokens: completionTokens)
    }
    public static let counters = ["judged_turns", "unscored_turns"]

    /// In the order written (synthesized coding follows the cases' order).
    enum CodingKeys: String, CodingKey {
        case turn, score, samples, verdict, orders, raw, requests, seed, model
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case structured
    }
}

/// The JSON verdicts a judge writes under `eval.structured` (see `StructuredOutput`), and their
/// strict reading.
public enum StructuredVerdict {
    public static let ratingSchema = StructuredOutput.object([
        ("explanation", ["type": "string"]), ("rating", ["type": "integer", "minimum": 1, "maximum": 10]),
    ])
    public static let preferenceSchema = StructuredOutput.object([
        ("explanation", ["type": "string"]), ("verdict", ["type": "string", "enum": ["A", "B", "C"]]),
    ])

    /// The `rating` of a JSON reply, an integer in 1…10, or nil.
    public static func rating(_ text: String) -> Double? {
        guard case .number(let n)? = StructuredOutput.field("rating", of: text), n == n.rounded(), n >= 1, n <= 10
        else { return nil }
        return n
    }

    /// The `verdict` of a JSON reply: "A", "B" or "C" (a tie), or nil.
    public static func preference(_ text: String) -> VerdictParser.Preference? {
        guard case .string(let v)? = StructuredOutput.field("verdict", of: text) else { return nil }
        return ["A": .a, "B": .b, "C": .tie][v]
    }
}

/// Reads a judge's answer strictly: the verdict must appear in double brackets,
/// and one value only. Anything else is unparsed — never guessed.
public enum VerdictParser {
    /// The rating of `[[n]]` (decimals allowed): nil unless every bracketed value is the
    /// same number and it lies in 1…10.
    public static func rating(_ text: String) -> Double? {
        let values = Set(
            bracketed(text).map { inner -> Double? in
                guard !inner.isEmpty, inner.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                    inner.first != ".", inner.last != ".", inner.filter({ $0 == "." }).count <= 1
                else { return nil }
                return Double(inner)
            })
        guard values.count == 1, let v = values.first ?? nil, v >= 1, v <= 10 else { return nil }
        return v
    }

    public enum Preference: String, Sendable { case a, b, tie }

    /// `[[A]]`, `[[B]]` or `[[C]]` (a tie): nil unless exactly one of them appears.
    public static func preference(_ text: String) -> Preference? {
        let values = Set(bracketed(text).map { $0.uppercased() })
        guard values.count == 1, let v = values.first else { return nil }
        switch v {
        case "A": return .a
        case "B": return .b
        case "C": return .tie
        default: return nil
        }
    }

    /// The trimmed texts between `[[` and `]]`.
    static func bracketed(_ text: String) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        while let open = rest.firstRange(of: "[["), let close = rest[open.upperBound...].firstRange(of: "]]") {
            out.append(rest[open.upperBound..<close.lowerBound].trimmingWhitespace())
            rest = rest[close.upperBound...]
        }
        return out
    }
}
