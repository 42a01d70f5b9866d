/// What Self-talk journals for a dialogue besides its messages.
enum SelfTalkRecord: RecipeRecord, Equatable {
    /// Where in the workflow the agent's next utterance goes (`"step"`), one per agent turn.
    case step(Step)
    /// The `stage` role's answer after a client turn (`"stage"`).
    case stage(Stage)

    struct Step: Codable, Sendable, Equatable {
        /// The agent turn it leads, 1-based.
        var turn: Int
        /// The workflow node the agent is guided to (nil: none; the agent goes off script).
        @Nullable var node: String? = nil
        var choice: Choice
        /// The manager's answer (absent when no manager was asked).
        var raw: String? = nil
        /// With `selftalk.structured`: whether the answer was the schema's JSON.
        var structured: Bool? = nil
    }

    /// How the step was chosen: the workflow's start, the manager's numbered edge, or why no edge.
    enum Choice: Codable, Sendable, Equatable {
        case start
        /// The node has no edges, or the client has said nothing yet.
        case noEdge
        /// The manager answered "none of the above".
        case noneOfTheAbove
        /// The manager's answer held no number in range.
        case unparsed
        /// The manager's answer: the 1-based edge taken.
        case edge(Int)

        private static let words: [(Choice, String)] = [
            (.start, "start"), (.noEdge, "no edge"), (.noneOfTheAbove, "none"), (.unparsed, "unparsed"),
        ]

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Int.self) {
                self = .edge(n)
                return
            }
            let word = try c.decode(String.self)
            guard let choice = Self.words.first(where: { $0.1 == word })?.0 else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "no choice \"\(word)\"")
            }
            self = choice
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            if case .edge(let n) = self {
                try c.encode(n)
            } else {
                try c.encode(Self.words.first { $0.0 == self }?.1 ?? "")
            }
        }
    }

    struct Stage: Codable, Sendable, Equatable {
        /// The client turn it follows, 1-based.
        var turn: Int
        /// "start", "middle" or "end" (nil: the answer was none of them).
        @Nullable var stage: String? = nil
        /// The stage role's answer.
        var raw: String
        /// With `selftalk.structured`: whether the answer was the schema's JSON.
        var structured: Bool? = nil
    }

    var stepValue: Step? { if case .step(let s) = self { s } else { nil } }
    var stageValue: Stage? { if case .stage(let s) = self { s } else { nil } }

    init(from decoder: Decoder) throws {
        switch try decoder.recordKind() {
        case "step": self = .step(try Step(from: decoder))
        case "stage": self = .stage(try Stage(from: decoder))
        case let kind: throw decoder.unknownRecordKind(kind)
        }
    }

    func encode(to encoder: Encoder) throws {
        switch self {
        case .step(let s): try encoder.encodeRecord(s, kind: "step")
        case .stage(let s): try encoder.encodeRecord(s, kind: "stage")
        }
    }

    var tally: RecordTally {
        switch self {
        case .step: RecordTally(kind: "step")
        case .stage: RecordTally(kind: "stage")
        }
    }
}
