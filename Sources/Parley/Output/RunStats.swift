/// Counts over the dialogues a run has written; the basis of `summary.json` and progress lines.
public struct RunStats: Sendable, Equatable {
    public var finished = 0
    public var filtered = 0
    public var failed = 0
    /// Seeds lines that could not be used (also counted in `failed`).
    public var invalidSeeds = 0
    /// Complete exchanges in finished dialogues (those in dialogues.jsonl).
    public var turns = 0
    public var messagesGenerated = 0
    public var promptTokens = 0
    public var completionTokens = 0
    public var endReasons: [String: Int] = [:]
    public var failureReasons: [String: Int] = [:]
    /// Counts that recipe records add at the top of `summary.json` (`RecordTally.counters`).
    public var counters: [String: Int] = [:]
    /// Recipe records of finished dialogues by kind ("pair", "select", …), and by kind and
    /// outcome (`pair_dropped`, `select_rejected`): see `RecordTally`.
    public var records: [String: Int] = [:]
    /// Filter decisions by filter, then action (`trim`, `drop`).
    public var filters: [String: [String: Int]] = [:]

    public var ended: Int { finished + filtered + failed }

    public init() {}

    /// Counts an ended dialogue.
    /// - Parameters:
    ///   - d: the dialogue.
    ///   - records: the type its recipe's records have (nil: a recipe without records).
    public mutating func add(_ d: Dialogue, records type: (any RecipeRecord.Type)?) {
        switch d.status {
        case .finished: finished += 1
        case .filtered: filtered += 1
        case .failed, .running: failed += 1
        }
        if d.endReason == .invalidSeed { invalidSeeds += 1 }
        if let r = d.endReason { endReasons[r.rawValue, default: 0] += 1 }
        if d.status == .failed { failureReasons[Self.shortReason(d.failure ?? "unknown"), default: 0] += 1 }
        if d.status == .finished { turns += d.turns }
        for tally in type.map({ d.tallies(as: $0) }) ?? [] {
            if d.status == .finished, let kind = tally.kind {
                records[kind, default: 0] += 1
                if let outcome = tally.outcome { records[kind + "_" + outcome.rawValue, default: 0] += 1 }
            }
            counters.merge(tally.counters, uniquingKeysWith: +)
            promptTokens += tally.promptTokens
            completionTokens += tally.completionTokens
        }
        for f in d.filtering { filters[f.filter, default: [:]][f.action.rawValue, default: 0] += 1 }
        for m in [d.messages, d.trimmed].joined() {
            guard let meta = m.meta else { continue }
            messagesGenerated += 1
            promptTokens += meta.promptTokens ?? 0
            completionTokens += meta.completionTokens ?? 0
        }
    }

    /// Groups failure messages by their first clause ("HTTP 503 from …: detail" → "HTTP 503 from …").
    static func shortReason(_ s: String) -> String {
        let head = s.split(separator: ":", maxSplits: 1).first.map(String.init) ?? s
        return String(head.prefix(120))
    }
}

extension EndReason {
    /// A seeds line that could not be parsed, or repeated an id.
    public static let invalidSeed = EndReason("invalid_seed")
}

/// What `summary.json` holds.
public struct RunSummary: Sendable {
    public var seeds: Int
    public var stats: RunStats
    public var wallSeconds: Double
    public var interrupted: Bool
    public var outputDir: String
    public var files: [String]
    /// Run-level results of the recipe (`Recipe.finishRun`), by recipe name.
    public var extra: [String: JSONValue] = [:]
    /// What the servers did, and the budget's spend.
    public var serving: ServingReport?
    /// Why the run stopped before its end: `"budget"` (nil: it did not, or it was interrupted).
    public var stopped: String?
    /// The part of the seeds the run took (`run.shard`); nil: all of them.
    public var shard: Shard?
    /// In a merged run: one entry per shard merged (`{"shard", "dir", "seeds", "wall_seconds"}`).
    public var shards: [JSONValue] = []

    public var json: String {
        var w = JSONWriter()
        w.beginObject()
        w.field("seeds", seeds)
        if let shard { w.field("shard", shard.description) }
        w.field("finished", stats.finished)
        w.field("filtered", stats.filtered)
        w.field("failed", stats.failed)
        w.field("invalid_seeds", stats.invalidSeeds)
        w.field("turns", stats.turns)
        w.key("mean_turns")
        w.double(stats.finished > 0 ? Double(stats.turns) / Double(stats.finished) : 0)
        w.field("generated_messages", stats.messagesGenerated)
        w.field("prompt_tokens", stats.promptTokens)
        w.field("completion_tokens", stats.completionTokens)
        w.key("wall_seconds")
        w.double((wallSeconds * 1000).rounded() / 1000)
        w.key("interrupted")
        w.bool(interrupted)
        w.field("stopped", stopped)
        w.key("end_reasons")
        w.value(.object(stats.endReasons.mapValues { .number(Double($0)) }))
        w.key("failure_reasons")
        w.value(.object(stats.failureReasons.mapValues { .number(Double($0)) }))
        if !stats.records.isEmpty {
            w.key("records")
            w.value(.object(stats.records.mapValues { .number(Double($0)) }))
        }
        for k in stats.counters.keys.sorted() {
            w.key(k)
            w.int(stats.counters[k] ?? 0)
        }
        w.key("filters")
        w.value(.object(stats.filters.mapValues { .object($0.mapValues { .number(Double($0)) }) }))
        for k in extra.keys.sorted() {
            w.key(k)
            w.value(extra[k]!)
        }
        if let serving {
            w.key("serving")
            w.value(serving.servingJSON)
            if let budget = serving.budgetJSON {
                w.key("budget")
                w.value(budget)
            }
        }
        if !shards.isEmpty {
            w.key("shards")
            w.value(.array(shards))
        }
        w.field("output_dir", outputDir)
        w.key("files")
        w.beginArray()
        for f in files { w.string(f) }
        w.endArray()
        w.endObject()
        return w.text
    }
}
