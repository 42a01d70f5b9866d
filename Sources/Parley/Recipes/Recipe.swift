/// A recipe: how a dialogue starts from its seed, and the loop that carries it to its
/// end. The runtime (scheduling, journal, resume, output) is the same for every recipe.
protocol Recipe: Sendable {
    /// The dialogue a seed starts (already ended, as `invalid_seed`, when the seed cannot be used).
    func begin(_ seed: Seed, runSeed: UInt64) -> Dialogue
    /// Runs the dialogue from wherever it stands (a resume may start it half done),
    /// journaling through `record` before it goes on. Returns why it ended.
    nonisolated(nonsending) func run(_ d: inout Dialogue, record: Recorder) async throws -> EndReason
    /// Output files of this recipe besides the dataset files (e.g. `pairs.jsonl`).
    var outputFiles: [String] { get }
    /// Whether a dataset row ends on an assistant message (an unanswered last user turn is cut).
    var endsOnAnswer: Bool { get }
    /// The rows an ended dialogue adds to those files.
    func rows(_ d: Dialogue) -> [(file: String, row: [UInt8])]
    /// Writes the recipe's own fields into a dataset row's `meta` (eval's `judgments`), after the
    /// filters' decisions.
    func rowMeta(_ d: Dialogue, into w: inout JSONWriter) throws
    /// Work over the whole run once every dialogue has ended (run-level filters); what it
    /// returns goes into `summary.json` under the recipe's name.
    func finishRun(dir: String) throws -> JSONValue?
}

extension Recipe {
    var outputFiles: [String] { [] }
    var endsOnAnswer: Bool { true }
    func rows(_ d: Dialogue) -> [(file: String, row: [UInt8])] { [] }
    func rowMeta(_ d: Dialogue, into w: inout JSONWriter) throws {}
    func finishRun(dir: String) throws -> JSONValue? { nil }
}

/// What a recipe journals as it goes.
struct Recorder {
    /// A new message and its index in the dialogue.
    let message: (Message, Int) throws -> Void
    /// A recipe record as JSON, its index in `Dialogue.records` and the tokens it cost (recipes
    /// call `add(_:to:)`).
    let record: (JSONValue, Int, Int) throws -> Void
}

enum Recipes {
    /// One item of `list` for the dialogue, the same in every run with the same run seed.
    static func pick<T>(_ list: [T], _ what: String, _ runSeed: UInt64, _ id: String) -> T? {
        guard !list.isEmpty else { return nil }
        return list[Int(StableHash.of(what, String(runSeed), id) % UInt64(list.count))]
    }

    /// Whether a closing keyword ("goodbye", "see you") appears as whole words in any of `utterances`.
    static func closes(_ utterances: ArraySlice<Message>, keywords: [String]) -> Bool {
        let wanted = keywords.map(Words.tokens).filter { !$0.isEmpty }
        guard !wanted.isEmpty else { return false }
        return utterances.contains { m in
            let words = Words.tokens(m.content)
            return wanted.contains { Words.contains(words, $0) }
        }
    }
}
