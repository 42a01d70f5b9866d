import FoundationEssentials

/// Writes ended dialogues to the run's dataset files and records each write in the
/// journal, under one lock, so that files and journal always agree:
/// - `dialogues.jsonl` — finished dialogues, ShareGPT shape;
/// - `messages.jsonl` — the same in the OpenAI/TRL `messages` shape (optional);
/// - `filtered.jsonl` — dialogues that ended too short to keep;
/// - `failures.jsonl` — dialogues whose requests failed, and unusable seeds lines, with reasons.
final class DatasetWriter: Sendable {
    static let dialoguesFile = "dialogues.jsonl"
    static let messagesFile = "messages.jsonl"
    static let filteredFile = "filtered.jsonl"
    static let failuresFile = "failures.jsonl"

    private struct State {
        /// In the order their sizes are journaled; a few, found by name without hashing it (a dictionary hashed
        /// each name at each end, ~180 instructions a scripted request, benchmarks/callgrind).
        var files: [(name: String, file: AppendFile)]
        var stats: RunStats
    }
    private let state: Locked<State>
    private let journal: Journal
    /// Prepended to `conversations` as the `system` entry: the assistant's system prompt.
    private let systemPrompt: String?
    /// The recipe's own output rows (`pairs.jsonl`, …).
    private let recipe: any RecipeKind
    /// `output.formats` asks for `messages.jsonl` too.
    private let writesMessages: Bool

    /// Set in `"fsync"` durability: end records go through it (see `GroupCommit`).
    private let group: GroupCommit?
    /// Set in `"process"` durability: ends wait there for a thread with idle CPU (see `EndQueue`).
    private let ends: EndQueue?

    init(
        dir: String, formats: [Config.OutputFormat], journal: Journal, stats: RunStats, systemPrompt: String?,
        recipe: any RecipeKind,
        durability: Config.Durability = .process
    ) throws {
        var names = [Self.dialoguesFile, Self.filteredFile, Self.failuresFile] + recipe.outputFiles
        if formats.contains(.messages) { names.append(Self.messagesFile) }
        let files = try names.map { n in (name: n, file: try AppendFile(path: dir + "/" + n)) }
        let fsync = durability == .fsync
        group = fsync ? try GroupCommit(journal: journal, outputs: files.map(\.file.fd), directory: dir) : nil
        // As many as a burst of ends at 1,024 dialogues in flight; a queued end holds its dialogue in memory.
        ends = fsync ? nil : EndQueue(limit: 1024)
        state = Locked(State(files: files, stats: stats))
        self.journal = journal
        self.systemPrompt = systemPrompt
        self.recipe = recipe
        writesMessages = formats.contains(.messages)
    }

    /// Writes the queued ends, makes everything written durable and stops the group commit (fsync mode); call
    /// once the run's last commit has returned.
    /// - Throws: the failure of a queued end's write.
    func close() throws {
        defer { group?.stop() }
        try ends?.close()
    }

    /// Every file a run may write (recipes' own included): what resume cuts back and `--fresh` removes.
    static var allFiles: [String] {
        [dialoguesFile, messagesFile, filteredFile, failuresFile] + RecipeRegistry.all.flatMap { $0.allOutputFiles }
    }

    var stats: RunStats { state.withLock { $0.stats } }

    /// Writes an ended dialogue to its file(s), then its end record to the journal, and then calls `ended`. In
    /// `"process"` durability the writing is usually left to an `EndQueue` and this returns at once; in `"fsync"`
    /// mode it returns once the end record is durable. Ends are written in the order they come.
    /// - Throws: a write's failure, this one's or an earlier queued one's.
    nonisolated(nonsending) func commit(_ d: Dialogue, then ended: @escaping @Sendable () -> Void) async throws {
        if let ends {
            return try ends.add { [self] in
                let rows = try rows(d)
                return {
                    _ = try self.write(d, rows: rows)
                    ended()
                }
            }
        }
        let ticket = try write(d, rows: try rows(d))
        if let group, let ticket { try await group.wait(ticket) }
        ended()
    }

    /// Writes the rows and the end record (in fsync mode: queues the end record, whose ticket it returns). The
    /// rows are made before the lock is taken: only their writes and the end record need it, and other dialogues'
    /// ends waited while a row was made under it.
    private func write(_ d: Dialogue, rows: [(file: String, row: [UInt8])]) throws -> UInt64? {
        try state.withLock { s in
            for (name, row) in rows { try s.files.first { $0.name == name }?.file.append(row) }
            let sizes = s.files.map { ($0.name, $0.file.size) }
            s.stats.add(d, records: type(of: recipe).records)
            // Under the lock, so end records follow the order of the rows they claim.
            guard let group else {
                try journal.end(d, sizes: sizes)
                return UInt64?.none
            }
            let journal = self.journal
            return group.enqueue { try journal.end(d, sizes: sizes) }
        }
    }

    /// The rows an ended dialogue adds, file by file, in the order they are written.
    private func rows(_ d: Dialogue) throws -> [(file: String, row: [UInt8])] {
        switch d.status {
        case .finished:
            var rows = [(Self.dialoguesFile, try Rows.shareGPT(d, system: systemPrompt, recipe: recipe))]
            if writesMessages { rows.append((Self.messagesFile, Rows.messages(d, system: systemPrompt))) }
            return rows + recipe.rows(d)
        case .filtered:
            return [(Self.filteredFile, try Rows.shareGPT(d, system: systemPrompt, recipe: recipe))]
        case .failed, .running:
            return [(Self.failuresFile, Rows.failure(d))]
        }
    }
}

/// The JSON rows of the output files.
enum Rows {
    static func shareGPT(_ d: Dialogue, system: String?, recipe: any RecipeKind) throws -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("id", d.id)
        w.key("conversations")
        w.beginArray()
        if let system, !system.isEmpty {
            w.beginObject()
            w.field("from", "system")
            w.field("value", system)
            w.endObject()
        }
        // By index, here and below: `for m in d.messages` copied each message (its strings retained and released).
        for i in d.messages.indices {
            let speaker = d.messages[i].speaker
            w.beginObject()
            w.field("from", speaker == .user ? "human" : speaker == .assistant ? "gpt" : "system")
            w.field("value", d.messages[i].content)
            w.endObject()
        }
        w.endArray()
        w.field("end_reason", d.endReason?.rawValue ?? "")
        w.field("turns", d.turns)
        w.key("meta")
        try meta(d, hasSystem: !(system ?? "").isEmpty, recipe: recipe, into: &w)
        w.endObject()
        return w.line()
    }

    static func messages(_ d: Dialogue, system: String?) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("id", d.id)
        w.key("messages")
        w.beginArray()
        if let system, !system.isEmpty {
            w.message(.system, system)
        }
        for i in d.messages.indices { w.message(d.messages[i].speaker, d.messages[i].content) }
        w.endArray()
        w.endObject()
        return w.line()
    }

    static func failure(_ d: Dialogue) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("id", d.id)
        w.field("line", d.seed.line)
        w.field("end_reason", d.endReason?.rawValue ?? EndReason.failed.rawValue)
        w.field("reason", d.failure ?? "unknown")
        w.field("turns", d.turns)
        w.key("seed")
        HotPathJSON.seed(d.seed, into: &w)
        w.key("messages")
        w.beginArray()
        for m in d.messages { HotPathJSON.message(m, into: &w) }
        w.endArray()
        w.endObject()
        return w.line()
    }

    /// The dialogue's meta: the seed, the run's choices, and one generation record per message
    /// (aligned with `conversations`, all keys present so dataset loaders infer one schema).
    static func meta(_ d: Dialogue, hasSystem: Bool, recipe: any RecipeKind, into w: inout JSONWriter) throws {
        w.beginObject()
        w.field("seed_mode", d.seed.mode.rawValue)
        w.field("seed_line", d.seed.line)
        w.nullable("topic", d.seed.topic)
        for k in d.meta.keys.sorted() {
            w.key(k)
            w.value(d.meta[k]!)
        }
        w.key("filters")
        try w.encode(d.filtering)
        try recipe.rowMeta(d, into: &w)
        if !d.seed.extra.isEmpty {
            w.key("seed")
            w.value(.object(d.seed.extra))
        }
        w.key("generation")
        w.beginArray()
        if hasSystem { HotPathJSON.turnMeta(nil, into: &w) }
        for i in d.messages.indices { HotPathJSON.turnMeta(d.messages[i].meta, into: &w) }
        w.endArray()
        w.endObject()
    }
}
