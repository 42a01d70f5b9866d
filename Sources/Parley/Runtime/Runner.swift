import FoundationEssentials

/// Runs a recipe over a seeds file into a run directory: every dialogue advances on its
/// own, at most `run.concurrency` at once; every message is journaled as it is made;
/// running again on the same directory resumes where the last run stopped.
public final class Runner: Sendable {
    public let engine: Engine
    public let seeds: SeedInput
    public let outputDir: String
    /// The seeds this run takes (`run.shard`, or the job's); nil: all of them.
    public let shard: Shard?
    private let events: (@Sendable (RunEvent) -> Void)?
    private let live = LiveCounters()
    /// The output directory's lock, from `claimDirectory()` or `run` until `run` returns.
    private let claimed = Locked<RunLock?>(nil)

    /// Counts that move while the run goes: for progress lines.
    public struct LiveCounts: Sendable {
        public var totalSeeds = 0
        public var ended = 0
        public var failed = 0
        public var messages = 0
        public var tokens = 0
        public var inFlight = 0
        /// Dialogues already ended by an earlier run of this directory.
        public var resumedEnded = 0
    }

    /// - Parameters:
    ///   - shard: the part of the seeds to run; nil: the config's `run.shard`.
    ///   - events: called (on any thread, keep it quick) as dialogues start, grow and end.
    public init(
        engine: Engine, seeds: SeedInput, outputDir: String, shard: Shard? = nil,
        events: (@Sendable (RunEvent) -> Void)? = nil
    ) {
        self.engine = engine
        self.seeds = seeds
        self.outputDir = outputDir
        self.shard = shard ?? engine.config.run.shard
        self.events = events
    }

    public convenience init(engine: Engine, seedsPath: String, outputDir: String) {
        self.init(engine: engine, seeds: .file(seedsPath), outputDir: outputDir)
    }

    public var progress: LiveCounts { live.snapshot }

    /// Takes the output directory now, so that a second run on it is refused at once
    /// (`RunError.busy`, naming the holder) rather than when `run` starts. `run` takes it
    /// itself when this was not called, and lets it go when it returns.
    public func claimDirectory() throws {
        try claimed.withLock { held in
            if held == nil { held = try RunLock(directory: outputDir) }
        }
    }

    /// Runs to the end, or until the task is cancelled (then the directory is resumable).
    /// Throws for configuration, seeds-file and disk errors; failed requests do not throw,
    /// they are recorded in `failures.jsonl`.
    public func run(fresh: Bool = false) async throws -> RunSummary {
        let started = ContinuousClock.now
        let config = self.engine.config
        let lock = try claimed.withLock { held in
            let lock = try held ?? RunLock(directory: outputDir)
            held = lock
            return lock
        }
        defer { claimed.withLock { $0 = nil } }
        let dir = try RunDirectory.open(outputDir, config: config, shard: shard, fresh: fresh, lock: lock)
        let engine = try await self.engine.fittedToServers()
        let observed = engine.endpoints.map { name, endpoint in
            (
                endpoint,
                endpoint.observeLimits { url, limit in
                    self.events?(.limitChanged(backend: name, url: url, limit: limit))
                }
            )
        }
        defer { for (endpoint, token) in observed { endpoint.stopObserving(token) } }

        // Recover: cut partial writes, then learn what is done and what is half done.
        var replay = try JournalReplay.read(
            path: dir.journalPath, records: RecipeRegistry.kind(named: config.recipe)?.records,
            corpusKeys: config.filters.duplicates != nil)
        try AppendFile.truncate(dir.journalPath, to: replay.validBytes, claimedBy: dir.journalPath)
        for name in DatasetWriter.allFiles {
            try AppendFile.truncate(outputDir + "/" + name, to: replay.sizes[name] ?? 0, claimedBy: dir.journalPath)
        }
        let journal = try Journal(path: dir.journalPath)
        defer { try? journal.close() }  // after the writer's close below: its last ends are journal lines
        let corpus = CorpusIndex()
        for (id, keys) in replay.kept { corpus.restore(id: id, keys: keys) }
        replay.kept = []
        if let budget = engine.budget {
            let partial = replay.unfinished.values.flatMap(\.messages).compactMap(\.meta)
            budget.restore(
                promptTokens: replay.stats.promptTokens + partial.reduce(0) { $0 + ($1.promptTokens ?? 0) },
                completionTokens: replay.stats.completionTokens
                    + partial.reduce(0) { $0 + ($1.completionTokens ?? 0) })
        }
        let (recipe, system) = try RecipeRegistry.make(engine)
        let writer = try DatasetWriter(
            dir: outputDir, formats: config.output.formats, journal: journal,
            stats: replay.stats, systemPrompt: system, recipe: recipe,
            durability: config.run.durability)
        defer { try? writer.close() }  // on a failure: its queued ends still written

        let total = try SeedSource.count(seeds, limit: config.run.limit, shard: shard)
        live.totalSeeds.store(total, ordering: .relaxed)
        live.ended.store(replay.ended.count, ordering: .relaxed)
        live.resumedEnded.store(replay.ended.count, ordering: .relaxed)
        let metrics = try await serveMetrics(config.run.metrics, engine: engine, writer: writer)
        defer { metrics?.stop() }
        let source = try SeedSource(seeds, limit: config.run.limit)
        // First line of each id, keyed by a 64-bit hash so memory stays small with many seeds: sized for them all at
        // once (growing, it held its old and new tables together near the end: ParleyBench memory 1000000 4 peaked at
        // 146-150 MB, now 110-114), a line in 32 bits (a seeds file of 4 billion lines would be hundreds of GB).
        var seenLines: [UInt64: UInt32] = [:]
        seenLines.reserveCapacity(total)

        var interrupted = false
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var inFlight = 0
                while let item = source.next() {
                    try Task.checkCancellation()
                    if let shard, !shard.owns(item) { continue }
                    if engine.budget?.exhausted == true { break }
                    var dialogue: Dialogue
                    var resumed = false
                    switch item {
                    case .failure(let error):
                        dialogue = Self.invalidSeed(line: error.line, reason: error.description)
                    case .success(let seed):
                        let key = StableHash.of(seed.id)
                        if let first = seenLines[key] {
                            dialogue = Self.invalidSeed(
                                line: seed.line,
                                reason: "seeds line \(seed.line): id \"\(seed.id)\" repeats line \(first)")
                        } else {
                            seenLines[key] = UInt32(clamping: seed.line)
                            if let partial = replay.unfinished.removeValue(forKey: seed.id) {
                                dialogue = partial
                                resumed = true
                            } else {
                                dialogue = recipe.begin(seed, runSeed: config.run.seed)
                            }
                        }
                    }
                    if replay.ended.contains(dialogue.id) { continue }
                    if dialogue.status != .running {
                        try await writer.commit(dialogue) { [live] in live.dialogueEnded(failed: true) }
                        continue
                    }
                    if inFlight >= config.run.concurrency {
                        try await group.next()
                        inFlight -= 1
                    }
                    let d = dialogue
                    let isNew = !resumed
                    group.addTask {
                        try await self.drive(
                            d, isNew: isNew, engine: engine, recipe: recipe, journal: journal,
                            writer: writer, corpus: corpus)
                    }
                    inFlight += 1
                }
                try await group.waitForAll()
            }
        } catch is CancellationError {
            interrupted = true
        }
        try writer.close()
        try journal.close()
        var summary = RunSummary(
            seeds: total, stats: writer.stats, wallSeconds: Self.seconds(ContinuousClock.now - started),
            interrupted: interrupted, outputDir: outputDir, files: [])
        summary.serving = ServingReport(engine)
        if engine.budget?.exhausted == true { summary.stopped = "budget" }
        summary.shard = shard
        if !interrupted, summary.stopped == nil, let extra = try recipe.finishRun(dir: outputDir) {
            summary.extra[config.recipe] = extra
        }
        summary.files = DatasetWriter.allFiles.filter { FileManager.default.fileExists(atPath: outputDir + "/" + $0) }
        try? (summary.json + "\n").write(toFile: dir.summaryPath, atomically: true, encoding: .utf8)
        if let metrics {
            try? metrics.exposition().write(toFile: dir.metricsPath, atomically: true, encoding: .utf8)
        }
        return summary
    }

    /// The run's live metrics, served from now until the run returns; nil: not configured.
    private func serveMetrics(
        _ settings: MetricsSettings?, engine: Engine, writer: DatasetWriter
    ) async throws -> RunMetrics? {
        guard let settings else { return nil }
        let endpoints = engine.endpoints.keys.sorted().compactMap { engine.endpoints[$0] }
        let metrics = RunMetrics(endpoints: endpoints) { [live] in
            RunMetrics.Reading(
                seeds: live.totalSeeds.load(ordering: .relaxed), running: live.inFlight.load(ordering: .relaxed),
                stats: writer.stats)
        }
        events?(.metricsServed(url: try await metrics.serve(settings)))
        return metrics
    }

    /// One dialogue from its current state to its end, journaled as it goes.
    nonisolated(nonsending) private func drive(
        _ start: Dialogue, isNew: Bool, engine: Engine, recipe: any Recipe, journal: Journal,
        writer: DatasetWriter, corpus: CorpusIndex
    ) async throws {
        var d = start
        let id = d.id
        live.inFlight.add(1, ordering: .relaxed)
        defer {
            live.inFlight.subtract(1, ordering: .relaxed)
            for endpoint in engine.endpoints.values { endpoint.release(dialogue: id) }
        }
        if isNew { try journal.start(d) }
        events?(.dialogueStarted(id: id, resumed: !isNew))
        do {
            let record = Recorder(
                message: { message, index in
                    try journal.message(message, index: index, of: id)
                    let tokens = (message.meta?.promptTokens ?? 0) + (message.meta?.completionTokens ?? 0)
                    self.live.recorded(tokens: tokens)
                    self.events?(.message(id: id, index: index, role: message.meta?.role ?? ""))
                },
                record: { value, index, tokens in
                    try journal.record(value, index: index, of: id)
                    self.live.recorded(tokens: tokens)
                })
            d.endReason = try await recipe.run(&d, record: record)
            // A dataset row ends with the assistant's answer: an unanswered last question is dropped.
            if recipe.endsOnAnswer, d.messages.last?.speaker == .user { d.trim(from: d.messages.count - 1) }
            // A recipe may drop its own dialogue, recording why as a filter decision.
            let dropped = d.filtering.contains { $0.action == .drop }
            let kept =
                !dropped && (engine.filters?.apply(to: &d, corpus: corpus, minTurns: engine.config.turns.min) ?? true)
            d.status = kept && d.turns >= engine.config.turns.min ? .finished : .filtered
        } catch let failure as GenerationFailure {
            d.status = .failed
            d.endReason = .failed
            d.failure = failure.description
        } catch is BudgetExhausted {
            return  // journaled so far; a run with more budget continues it
        }
        let (status, reason) = (d.status, d.endReason ?? .failed)
        try await writer.commit(d) { [live, events] in
            live.dialogueEnded(failed: status == .failed)
            events?(.dialogueEnded(id: id, status: status, reason: reason))
        }
    }

    /// What a run reports as it goes (see `init(events:)`).
    public enum RunEvent: Sendable, Equatable {
        case dialogueStarted(id: String, resumed: Bool)
        case message(id: String, index: Int, role: String)
        case dialogueEnded(id: String, status: DialogueStatus, reason: EndReason)
        /// A server's adaptive concurrency limit changed.
        case limitChanged(backend: String, url: String, limit: Int)
        /// The live metrics are served at `url` (`run.metrics`).
        case metricsServed(url: String)
    }

    static func invalidSeed(line: Int, reason: String) -> Dialogue {
        invalidSeed(Seed(id: "line-\(line)", line: line), reason: reason)
    }

    /// A seed a recipe cannot use: ended at once, recorded in failures.jsonl with the reason.
    static func invalidSeed(_ seed: Seed, reason: String) -> Dialogue {
        var d = Dialogue(seed: seed)
        d.status = .failed
        d.endReason = .invalidSeed
        d.failure = reason
        return d
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
