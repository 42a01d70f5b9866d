import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `parley merge`: the run directories of a config's shards into one run directory, as if
/// one machine had run every seed. Every file's rows are put in seed-line order (the order a
/// one-machine run with `run.concurrency` 1 writes), so a merged run equals such a run line
/// for line; run-level work (Self-talk's selection, the evaluation report) is done again
/// over the merged rows, and the summaries' counts are added up.
///
/// Memory grows with the number of rows (an id hash and an offset each), not their size.
public enum RunMerge {
    /// Merges `dirs` into `out` (created; an earlier merge there is replaced).
    /// - Returns: the merged summary, also written to `out/summary.json`.
    /// - Throws: `RunError.shards` naming every directory of another config and every
    ///   missing, repeated or unfinished shard; `RunError.busy` if a shard still runs;
    ///   `RunError.io` for files.
    public static func merge(_ dirs: [String], into out: String) throws -> RunSummary {
        guard !dirs.isEmpty else { throw RunError.shards("nothing to merge: give the shards' run directories") }
        let shards = try dirs.map(ShardRun.init)
        try check(shards)
        try checkOutput(out, shards: shards)
        let locks = try dirs.map { try RunLock(directory: $0) }  // a shard that still runs is refused
        let outLock = try RunLock(directory: out)
        defer { withExtendedLifetime((locks, outLock)) {} }

        // Seed lines of every dialogue (its rows in other files are placed by it), then each file.
        var lines: [UInt64: Int] = [:]
        var merged: [String] = []
        let ownLines = [DatasetWriter.dialoguesFile, DatasetWriter.filteredFile, DatasetWriter.failuresFile]
        for name in ownLines + DatasetWriter.allFiles.filter({ !ownLines.contains($0) }) {
            let path = out + "/" + name
            try? FileManager.default.removeItem(atPath: path)
            guard name != SelfTalkRecipe.selectedFile else { continue }  // made again below
            let sources = shards.map { $0.dir + "/" + name }.filter { FileManager.default.fileExists(atPath: $0) }
            guard !sources.isEmpty else { continue }
            try mergeRows(of: sources, into: path, ownLine: ownLines.contains(name), lines: &lines)
            merged.append(name)
        }

        var summary = RunSummary(
            seeds: 0, stats: RunStats(), wallSeconds: 0, interrupted: false, outputDir: out,
            files: [])
        for shard in shards.sorted(by: { $0.shard.index < $1.shard.index }) {
            summary.seeds += shard.seeds
            summary.stats.add(RunStats(summary: shard.summary))
            summary.wallSeconds = max(summary.wallSeconds, shard.wallSeconds)
            summary.shards.append(
                .object([
                    "shard": .string(shard.shard.description), "dir": .string(shard.dir),
                    "seeds": .number(Double(shard.seeds)), "wall_seconds": .number(shard.wallSeconds),
                ]))
        }
        let first = shards[0]
        switch first.recipe {
        case "selftalk":
            summary.extra["selftalk"] = try SelfTalkRecipe.finish(dir: out, settings: try first.config().selftalk)
        case "eval":
            try EvalReport.load(runs: [out]).write(into: out)
        default:
            break
        }
        summary.files = DatasetWriter.allFiles.filter { FileManager.default.fileExists(atPath: out + "/" + $0) }
        try write(summary.json + "\n", to: out + "/summary.json")
        var marker = JSONWriter()
        marker.beginObject()
        marker.field("fingerprint", first.fingerprint)
        marker.field("recipe", first.recipe)
        marker.field("parley", ParleyVersion.string)
        marker.key("merged_from")
        marker.value(.array(shards.map { .string($0.dir) }))
        marker.key("config")
        marker.value(first.configJSON)
        marker.endObject()
        try write(marker.text + "\n", to: out + "/run.json")
        return summary
    }

    /// Every reason the directories do not make one whole, finished run, in one error.
    static func check(_ shards: [ShardRun]) throws {
        var problems: [String] = []
        let first = shards[0]
        for s in shards where s.fingerprint != first.fingerprint {
            problems.append(
                "\(s.dir) was made with another config than \(first.dir) "
                    + "(fingerprint \(s.fingerprint), not \(first.fingerprint))")
        }
        let count = first.shard.count
        for s in shards where s.shard.count != count {
            problems.append(
                "\(s.dir) is shard \(s.shard) but \(first.dir) is shard \(first.shard): "
                    + "shards of different splits")
        }
        if problems.isEmpty {
            let byIndex = Dictionary(grouping: shards, by: \.shard.index)
            let missing = (1...count).filter { byIndex[$0] == nil }
            if !missing.isEmpty {
                let names = missing.map { "\($0)/\(count)" }.joined(separator: ", ")
                problems.append("shard\(missing.count == 1 ? "" : "s") \(names) missing")
            }
            for index in byIndex.keys.sorted() where byIndex[index]!.count > 1 {
                let dirs = byIndex[index]!.map(\.dir).joined(separator: ", ")
                problems.append("shard \(index)/\(count) given more than once: \(dirs)")
            }
        }
        for s in shards {
            if let unfinished = s.unfinished {
                problems.append("\(s.dir) (shard \(s.shard)) is unfinished: \(unfinished)")
            }
        }
        guard problems.isEmpty else { throw RunError.shards(problems.joined(separator: "; ")) }
    }

    /// The output directory must not be a shard, nor hold a run of its own.
    static func checkOutput(_ out: String, shards: [ShardRun]) throws {
        let target = RunLock.canonical(out)
        if shards.contains(where: { RunLock.canonical($0.dir) == target }) {
            throw RunError.shards("\(out) is one of the shards: merge into another directory")
        }
        let marker = out + "/run.json"
        if FileManager.default.fileExists(atPath: marker), RunDirectory.Marker.read(marker)?.mergedFrom == nil {
            throw RunError.shards("\(out) holds a run of its own: merge into another directory")
        }
    }

    /// Copies the rows of `sources` into `path` in seed-line order (stable: a dialogue's rows
    /// keep their order). Rows of the dialogue files carry their seed line and record it in
    /// `lines`; other files' rows are placed by their dialogue's (`id` or `dialogue_id`).
    static func mergeRows(of sources: [String], into path: String, ownLine: Bool, lines: inout [UInt64: Int]) throws {
        struct Row {
            var line: Int
            var source: Int
            var offset: UInt64
            var length: Int
        }
        var rows: [Row] = []
        for (source, file) in sources.enumerated() {
            let reader = try LineReader(path: file)
            var offset = 0
            while let (text, complete) = reader.next() {
                defer { offset = reader.completeBytes }
                guard complete else { throw RunError.io("\(file) ends in a partial line: resume that shard first") }
                guard let row = try? JSONValue.parse(text).objectValue else {
                    throw RunError.io("\(file) line \(reader.lineNumber) is not a JSON object")
                }
                let id = StableHash.of((row["id"] ?? row["dialogue_id"])?.stringValue ?? "")
                var line = lines[id] ?? Int.max
                if ownLine, let own = seedLine(of: row) {
                    line = own
                    lines[id] = own
                }
                rows.append(Row(line: line, source: source, offset: UInt64(offset), length: text.utf8.count + 1))
            }
        }
        rows.sort { ($0.line, $0.source, $0.offset) < ($1.line, $1.source, $1.offset) }
        let readers = try sources.map { try ReadOnlyFile(path: $0) }
        let temporary = path + ".merging"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw RunError.io("cannot write \(temporary)")
        }
        let output = try AppendFile(path: temporary)
        for row in rows {
            let bytes = try readers[row.source].read(row.length, at: row.offset)
            guard bytes.count == row.length else {
                throw RunError.io("\(sources[row.source]) changed while it was merged")
            }
            try output.append(bytes)
        }
        guard rename(temporary, path) == 0 else { throw RunError.io("cannot write \(path)") }
    }

    /// The seeds line of a dialogue row (`meta.seed_line`) or a failure row (`line`).
    static func seedLine(of row: [String: JSONValue]) -> Int? {
        if case .number(let n)? = row["meta"]?.objectValue?["seed_line"] ?? row["line"] { return Int(n) }
        return nil
    }

    static func write(_ text: String, to path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw RunError.io("cannot write \(path): \(error)")
        }
    }
}

/// One shard's run directory as the merge reads it: `run.json` and `summary.json`.
struct ShardRun {
    let dir: String
    let shard: Shard
    let fingerprint: String
    let recipe: String
    let configJSON: JSONValue
    let summary: [String: JSONValue]

    init(_ dir: String) throws {
        let markerPath = dir + "/run.json"
        guard let text = try? String(contentsOfFile: markerPath, encoding: .utf8),
            let marker = try? JSONValue.parse(text).objectValue,
            let fingerprint = marker["fingerprint"]?.stringValue
        else {
            throw RunError.shards("\(dir) is not a run directory (no readable run.json)")
        }
        if marker["merged_from"] != nil {
            throw RunError.shards("\(dir) is itself a merge: merge the shards it came from")
        }
        guard let shard = Shard(marker["shard"]?.stringValue ?? "1/1") else {
            throw RunError.shards("\(dir)/run.json names no valid shard")
        }
        self.dir = dir
        self.shard = shard
        self.fingerprint = fingerprint
        recipe = marker["recipe"]?.stringValue ?? "parrot"
        configJSON = marker["config"] ?? .null
        let summaryText = try? String(contentsOfFile: dir + "/summary.json", encoding: .utf8)
        summary = summaryText.flatMap { try? JSONValue.parse($0).objectValue } ?? [:]
    }

    var seeds: Int { Self.int(summary["seeds"]) }
    var wallSeconds: Double { if case .number(let n)? = summary["wall_seconds"] { n } else { 0 } }

    /// Why the shard's run has not ended every seed, if it has not.
    var unfinished: String? {
        if summary.isEmpty { return "no summary.json (it has not run to its end); run it again to finish it" }
        if summary["interrupted"] == .bool(true) { return "interrupted; run it again to finish it" }
        if let stopped = summary["stopped"]?.stringValue {
            return "stopped by its \(stopped); raise it and run it again"
        }
        let ended = Self.int(summary["finished"]) + Self.int(summary["filtered"]) + Self.int(summary["failed"])
        return ended < seeds ? "\(ended) of \(seeds) seeds ended; run it again to finish it" : nil
    }

    /// The run's config, for the recipe's run-level work.
    func config() throws -> Config {
        guard configJSON != .null else {
            throw RunError.shards(
                "\(dir)/run.json does not hold its config (made by an older parley): "
                    + "run the shard again with --fresh")
        }
        do { return try Config.parse(configJSON) } catch {
            throw RunError.shards("\(dir)/run.json holds a config this parley cannot read: \(error)")
        }
    }

    private static func int(_ value: JSONValue?) -> Int {
        if case .number(let n)? = value { return Int(n) }
        return 0
    }
}
