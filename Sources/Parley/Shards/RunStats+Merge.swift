/// Adding up the counts of shard runs (`parley merge`).
extension RunStats {
    /// The counts a `summary.json` holds, read back.
    init(summary o: [String: JSONValue]) {
        func int(_ key: String) -> Int {
            if case .number(let n)? = o[key] { return Int(n) }
            return 0
        }
        func counts(_ value: JSONValue?) -> [String: Int] {
            var out: [String: Int] = [:]
            for (key, v) in value?.objectValue ?? [:] {
                if case .number(let n) = v { out[key] = Int(n) }
            }
            return out
        }
        self.init()
        finished = int("finished")
        filtered = int("filtered")
        failed = int("failed")
        invalidSeeds = int("invalid_seeds")
        turns = int("turns")
        messagesGenerated = int("generated_messages")
        promptTokens = int("prompt_tokens")
        completionTokens = int("completion_tokens")
        let counterKeys = RecipeRegistry.all.flatMap { kind in kind.records?.counters ?? [] }
        for key in counterKeys where o[key] != nil {
            counters[key] = int(key)
        }
        endReasons = counts(o["end_reasons"])
        failureReasons = counts(o["failure_reasons"])
        records = counts(o["records"])
        filters = (o["filters"]?.objectValue ?? [:]).mapValues(counts)
    }

    mutating func add(_ other: RunStats) {
        finished += other.finished
        filtered += other.filtered
        failed += other.failed
        invalidSeeds += other.invalidSeeds
        turns += other.turns
        messagesGenerated += other.messagesGenerated
        promptTokens += other.promptTokens
        completionTokens += other.completionTokens
        counters.merge(other.counters, uniquingKeysWith: +)
        endReasons.merge(other.endReasons, uniquingKeysWith: +)
        failureReasons.merge(other.failureReasons, uniquingKeysWith: +)
        records.merge(other.records, uniquingKeysWith: +)
        filters.merge(other.filters) { mine, theirs in mine.merging(theirs, uniquingKeysWith: +) }
    }
}
