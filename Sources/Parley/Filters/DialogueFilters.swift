/// A run's quality filters over ended dialogues. Per-dialogue filters scan the messages
/// in order and the earliest offence decides: `drop` sends the dialogue to
/// `filtered.jsonl`, `trim` cuts it before the offending exchange (later offences are
/// cut away with it). Then corpus duplicates are checked against the dialogues kept so far.
public struct DialogueFilters: Sendable {
    public let config: FilterConfig
    private let blockTerms: [[Words.Token]]
    private let politeWords: Set<Words.Token>
    private let politeCore: Set<Words.Token>
    private let rolePhrases: [[Words.Token]]

    /// - Parameter blockTerms: the blocklist's terms (the config's and its file's).
    public init(config: FilterConfig, blockTerms: [String] = []) {
        self.config = config
        self.blockTerms = blockTerms.map(Words.tokens).filter { !$0.isEmpty }
        politeWords = Set((config.politeCloser?.words ?? []).map(Words.token))
        politeCore = Set((config.politeCloser?.core ?? []).map(Words.token))
        rolePhrases = (config.roleExchange?.phrases ?? []).map(Words.tokens).filter { !$0.isEmpty }
    }

    /// The earliest offence in `messages`, and the message index to cut at (its exchange's start).
    public func firstOffence(in messages: [Message]) -> (decision: FilterDecision, cut: Int)? {
        let tokens = messages.map { $0.speaker == .user || blockTerms.count > 0 ? Words.tokens($0.content) : [] }
        let userIndices = messages.indices.filter { messages[$0].speaker == .user }
        var turn = 0
        var exchangeStart = 0
        for (i, m) in messages.enumerated() {
            if m.speaker == .user {
                turn += 1
                exchangeStart = i
            }
            guard let (name, action, detail) = offence(at: i, in: messages, tokens: tokens, users: userIndices) else {
                continue
            }
            return (FilterDecision(filter: name, turn: max(turn, 1), action: action, detail: detail), exchangeStart)
        }
        return nil
    }

    private func offence(at i: Int, in messages: [Message], tokens: [[Words.Token]], users: [Int])
        -> (String, FilterConfig.Action, String)?
    {
        let m = messages[i]
        let t = tokens[i]
        if m.speaker == .user {
            if let f = config.userLength {
                let n = f.unit == .words ? t.count : m.content.count
                if let lo = f.min, n < lo { return ("user_length", f.action, "\(n) \(f.unit.rawValue) < min \(lo)") }
                if let hi = f.max, n > hi { return ("user_length", f.action, "\(n) \(f.unit.rawValue) > max \(hi)") }
            }
            if let f = config.repeats {
                for (k, j) in users.enumerated() where j < i {
                    let score = Similarity.rougeL(tokens[j], t)
                    if score >= f.threshold {
                        return ("repeat", f.action, "ROUGE-L \(Self.format(score)) with turn \(k + 1)")
                    }
                }
            }
            if let f = config.politeCloser, !t.isEmpty, t.allSatisfy(politeWords.contains),
                t.contains(where: politeCore.contains)
            {
                return ("polite_closer", f.action, "only pleasantries")
            }
            if let f = config.roleExchange {
                if let p = rolePhrases.firstIndex(where: { Words.contains(t, $0) }) {
                    return ("role_exchange", f.action, "reads like an assistant: \"\(f.phrases[p])\"")
                }
                let others = users.filter { $0 != i }.map { tokens[$0].count }.sorted()
                if t.count >= f.minWords, !others.isEmpty {
                    let median = Double(others[(others.count - 1) / 2] + others[others.count / 2]) / 2
                    if Double(t.count) >= f.lengthRatio * median {
                        return (
                            "role_exchange", f.action,
                            "\(t.count) words, \(Self.format(Double(t.count) / max(median, 1)))× the median user turn"
                        )
                    }
                }
            }
        }
        if let f = config.truncated, m.meta?.finishReason == "length" {
            return ("truncated", f.action, "\(m.speaker.rawValue) message cut at its token limit")
        }
        if let f = config.blocklist, let k = blockTerms.firstIndex(where: { Words.contains(t, $0) }) {
            return ("blocklist", f.action, "blocked term #\(k + 1) in a \(m.speaker.rawValue) message")
        }
        return nil
    }

    static func format(_ x: Double) -> String { String((x * 100).rounded() / 100) }
}

/// The dialogues a run has kept, by normalised first user turn and by whole dialogue,
/// for the corpus-duplicates filter. Rebuilt from the journal when a run resumes.
final class CorpusIndex: Sendable {
    private struct Index {
        var firstTurns: [UInt64: String] = [:]
        var dialogues: [UInt64: String] = [:]
    }
    private let keys = Locked(Index())

    typealias Keys = (firstTurn: UInt64?, dialogue: UInt64)

    static func keys(of messages: [Message]) -> Keys {
        var h = StableHash()
        for m in messages {
            h.combine(m.speaker.rawValue)
            h.combine(Words.normalizedKey(m.content))
        }
        let first = messages.first(where: { $0.speaker == .user }).map { Words.normalizedKey($0.content) }
        return (first, h.value)
    }

    /// Records a kept dialogue; returns the filter decision when it duplicates one kept earlier.
    func admit(_ d: Dialogue, _ f: FilterConfig.Duplicates) -> FilterDecision? {
        let (first, whole) = Self.keys(of: d.messages)
        return keys.withLock { k in
            if f.dialogue, let other = k.dialogues[whole] {
                return FilterDecision(
                    filter: "duplicates", turn: 1, action: .drop, detail: "the same dialogue as \(other)")
            }
            if f.firstTurn, let first, let other = k.firstTurns[first] {
                return FilterDecision(
                    filter: "duplicates", turn: 1, action: .drop, detail: "the same first user turn as \(other)")
            }
            k.dialogues[whole] = d.id
            if let first { k.firstTurns[first] = d.id }
            return nil
        }
    }

    /// A dialogue kept by an earlier run of the directory.
    func restore(id: String, keys restored: Keys) {
        let (first, whole) = restored
        keys.withLock { k in
            k.dialogues[whole] = id
            if let first { k.firstTurns[first] = id }
        }
    }
}

extension DialogueFilters {
    /// Filters an ended dialogue in place and records the decision in `d.filtering`.
    /// Returns whether the dialogue is kept: not dropped, and (trimmed or not) at least
    /// `minTurns` long. A dialogue that is not kept keeps all its messages (for `filtered.jsonl`).
    func apply(to d: inout Dialogue, corpus: CorpusIndex?, minTurns: Int) -> Bool {
        if let (decision, cut) = firstOffence(in: d.messages) {
            d.filtering.append(decision)
            if decision.action == .drop { return false }
            var trimmed = d
            trimmed.trim(from: cut)
            guard trimmed.turns >= minTurns else { return false }
            d = trimmed
        }
        guard d.turns >= minTurns else { return false }
        if let f = config.duplicates, let corpus, let decision = corpus.admit(d, f) {
            d.filtering.append(decision)
            return false
        }
        return true
    }
}
