import FoundationEssentials

/// Something a recipe makes besides messages — a judgment, a preference pair, an expert identity, a
/// workflow step — journaled as soon as it is made (a `"rec"` line) and handed back to the
/// recipe on resume. Its JSON is one flat object whose `"kind"` names the case (a type of one case,
/// as eval's `Judgment`, needs none); the schemas are documented in docs/formats.md. The dialogue
/// carries records as JSON (`Dialogue.records`), so the journal and the runner need not know a
/// recipe's types; the recipe reads them back typed with `Dialogue.records(_:)` and adds them with
/// `Recorder.add(_:to:)`.
public protocol RecipeRecord: Codable, Sendable {
    /// What `summary.json` counts of it.
    var tally: RecordTally { get }
    /// The top-level `summary.json` counts its tallies add to (`RecordTally.counters`), so that
    /// `parley merge` can add them up again.
    static var counters: [String] { get }
}

extension RecipeRecord {
    public static var counters: [String] { [] }
}

/// A record's share of `summary.json`: counted under `records.<kind>` (finished dialogues
/// only), and under `records.<kind>_<outcome>` too when it has an outcome; its `counters` are
/// added to top-level counts (every ended dialogue's); its tokens are added to the run's
/// `prompt_tokens` and `completion_tokens`.
public struct RecordTally: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        /// Made, but left out of the recipe's output (a CaPO pair too close to its chosen answer).
        case dropped
        /// Considered and turned down (a CaPO turn the judge found self-contained).
        case rejected
    }

    /// Nil: not counted under `records`.
    public var kind: String?
    public var outcome: Outcome?
    /// Added to `summary.json`'s top-level counts of these names (eval's `judged_turns`).
    public var counters: [String: Int]
    public var promptTokens: Int
    public var completionTokens: Int

    public init(
        kind: String?, outcome: Outcome? = nil, counters: [String: Int] = [:], promptTokens: Int = 0,
        completionTokens: Int = 0
    ) {
        self.kind = kind
        self.outcome = outcome
        self.counters = counters
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}

/// The key that names a record's case inside its flat JSON object.
enum RecordKindKey: String, CodingKey {
    case kind
}

extension Decoder {
    /// The `"kind"` of the record being decoded.
    func recordKind() throws -> String {
        try container(keyedBy: RecordKindKey.self).decode(String.self, forKey: .kind)
    }

    /// The error for a record of a kind the recipe does not make.
    func unknownRecordKind(_ kind: String) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(
                codingPath: codingPath + [RecordKindKey.kind], debugDescription: "no record of kind \"\(kind)\""))
    }
}

extension Encoder {
    /// Writes `payload`'s fields and `"kind": kind` into one flat object.
    func encodeRecord(_ payload: some Encodable, kind: String) throws {
        var c = container(keyedBy: RecordKindKey.self)
        try c.encode(kind, forKey: .kind)
        try payload.encode(to: self)
    }
}

extension Dialogue {
    /// The records of type `R`, in the order they were made.
    func records<R: RecipeRecord>(_ type: R.Type) -> [R] {
        records.compactMap { try? $0.decode(R.self) }
    }

    /// What `summary.json` counts of the records, read as `type` (the run's recipe's records).
    func tallies(as type: any RecipeRecord.Type) -> [RecordTally] {
        func read<R: RecipeRecord>(_ type: R.Type) -> [RecordTally] {
            records(type).map { $0.tally }
        }
        return read(type)
    }
}

extension Recorder {
    /// Journals `r` as the next of `d`'s records, then appends it.
    func add(_ r: some RecipeRecord, to d: inout Dialogue) throws {
        let json = try JSONValue(encoding: r)
        try record(json, d.records.count, r.tally.promptTokens + r.tally.completionTokens)
        d.records.append(json)
    }
}
