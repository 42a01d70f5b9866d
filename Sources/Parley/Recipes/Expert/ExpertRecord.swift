/// What the expert recipe journals for a dialogue besides its answer.
enum ExpertRecord: RecipeRecord, Equatable {
    /// The expert writer's description of the ideal expert (`"identity"`), made once.
    case identity(text: String)
    /// What `expert.clean` cut from an answer that echoed its identity (`"cleaning"`).
    case cleaning(turn: Int, removed: String)

    private struct Identity: Codable {
        var text: String
    }

    private struct Cleaning: Codable {
        var turn: Int
        var removed: String
    }

    var identityText: String? { if case .identity(let text) = self { text } else { nil } }
    var removedText: String? { if case .cleaning(_, let removed) = self { removed } else { nil } }

    init(from decoder: Decoder) throws {
        switch try decoder.recordKind() {
        case "identity": self = .identity(text: try Identity(from: decoder).text)
        case "cleaning":
            let c = try Cleaning(from: decoder)
            self = .cleaning(turn: c.turn, removed: c.removed)
        case let kind: throw decoder.unknownRecordKind(kind)
        }
    }

    func encode(to encoder: Encoder) throws {
        switch self {
        case .identity(let text): try encoder.encodeRecord(Identity(text: text), kind: "identity")
        case .cleaning(let turn, let removed):
            try encoder.encodeRecord(Cleaning(turn: turn, removed: removed), kind: "cleaning")
        }
    }

    var tally: RecordTally {
        switch self {
        case .identity: RecordTally(kind: "identity")
        case .cleaning: RecordTally(kind: "cleaning")
        }
    }
}
