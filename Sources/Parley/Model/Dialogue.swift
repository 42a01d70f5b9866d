/// Why a dialogue stopped. A string-backed value so recipes can add their own.
public struct EndReason: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The turn plan was completed.
    public static let maxTurns = EndReason("max_turns")
    /// The next prompt could not fit the role's context, even with old exchanges dropped.
    public static let contextExhausted = EndReason("context_exhausted")
    /// The user simulator wrote the configured end marker.
    public static let askerEnded = EndReason("asker_ended")
    /// A model returned nothing, or repeated an earlier message of the same speaker.
    public static let degenerate = EndReason("degenerate")
    /// A closing keyword ("goodbye") in the last two utterances (`turns.closing_keywords`).
    public static let closed = EndReason("closed")
    /// A request still failed after its retries.
    public static let failed = EndReason("failed")
}

public enum DialogueStatus: String, Codable, Sendable {
    case running
    /// Ended normally; written to `dialogues.jsonl`.
    case finished
    /// Ended normally but too short to keep (`turns.min`); written to `filtered.jsonl`.
    case filtered
    /// A request failed after its retries; written to `failures.jsonl`.
    case failed
}

/// A dialogue: its seed, its messages and how it ended.
public struct Dialogue: Sendable, Equatable {
    public var id: String
    public var seed: Seed
    public var messages: [Message]
    public var status: DialogueStatus = .running
    public var endReason: EndReason?
    /// For failed dialogues: what went wrong, as the last attempt reported it.
    public var failure: String?
    /// Per-dialogue facts chosen by the run (the sampled turn cap, …).
    public var meta: [String: JSONValue] = [:]
    /// What the run's filters decided (see `DialogueFilters`).
    public var filtering: [FilterDecision] = []
    /// Generated messages cut from the end of `messages` (by a filter's trim, or an
    /// unanswered last question): not in the dataset, still counted as generated.
    public var trimmed: [Message] = []
    /// What recipes make besides messages (judgments, preference pairs, expert identities,
    /// workflow progress), in the order made; each recipe reads its own.
    public var records: [JSONValue] = []

    /// Moves the messages from `index` on into `trimmed` (all of them for an index below 0).
    public mutating func trim(from index: Int) {
        let index = max(index, 0)
        guard index < messages.count else { return }
        trimmed = Array(messages[index...]) + trimmed
        messages.removeSubrange(index...)
    }

    public init(seed: Seed, messages: [Message] = []) {
        self.id = seed.id
        self.seed = seed
        self.messages = messages
    }

    /// Complete exchanges: user messages that have an assistant reply.
    public var turns: Int {
        var n = 0
        var pendingUser = false
        for m in messages {
            if m.speaker == .user {
                pendingUser = true
            } else if m.speaker == .assistant, pendingUser {
                n += 1
                pendingUser = false
            }
        }
        return n
    }
}
