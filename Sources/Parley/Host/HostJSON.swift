import FoundationEssentials

/// The JSON shapes a host sees through the C ABI (and any other embedding): generation
/// requests, answers, jobs, results, progress and events. See `include/parley.h`.
public enum HostJSON {
    /// A generation request as a host callback or the pull queue receives it.
    public static func request(_ r: GenerationRequest, ticket: UInt64) -> String {
        var w = JSONWriter()
        write(r, ticket: ticket, into: &w)
        return w.text
    }

    /// Writes `request(r, ticket:)`'s JSON into `w` (a host callback takes it as a C string from there).
    package static func write(_ r: GenerationRequest, ticket: UInt64, into w: inout JSONWriter) {
        w.beginObject()
        w.key("ticket")
        w.int(Int(truncatingIfNeeded: ticket))
        w.field("dialogue_id", r.dialogueID)
        w.field("turn", r.messageIndex)
        w.field("role", r.role)
        w.field("attempt", r.attempt)
        w.nullable("model", r.model)
        w.field("max_tokens", r.maxTokens)
        w.key("temperature")
        w.double(r.temperature)
        w.key("top_p")
        w.double(r.topP)
        w.key("stop")
        w.beginArray()
        for s in r.stop { w.string(s) }
        w.endArray()
        w.key("seed")
        w.int(Int(truncatingIfNeeded: r.seed & 0x7FFF_FFFF))
        if !r.params.isEmpty {
            w.key("params")
            w.value(.object(r.params))
        }
        switch r.prompt {
        case .chat(let messages):
            w.key("messages")
            w.beginArray()
            for i in messages.indices { w.message(messages[i].role, messages[i].content) }
            w.endArray()
        case .text(let prompt):
            w.field("prompt", prompt)
        }
        w.endObject()
    }

    /// A writer with room for `request(r, ticket:)`'s JSON unless its texts need escapes: a conversation outgrew
    /// the default 512 bytes, and a copy into each larger buffer cost a host request ~130-210 instructions
    /// (`benchmarks/callgrind`).
    package static func writer(for r: GenerationRequest) -> JSONWriter {
        var size = 384 + r.stop.reduce(0) { $0 + $1.utf8.count + 3 }
        switch r.prompt {
        case .chat(let messages): size += messages.reduce(0) { $0 + $1.content.utf8.count + 40 }
        case .text(let prompt): size += prompt.utf8.count + 12
        }
        return JSONWriter(capacity: size)
    }

    /// The largest ticket: tickets count requests from 1, and JSON numbers are exact to 2^53.
    package static let maxTicket = 1 << 53

    public static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    /// Parses the host's answers to taken requests (`parley_pull_submit`).
    public static func answers(_ text: String) throws(ConfigError) -> [(
        ticket: UInt64, result: Result<GenerationResult, BackendError>
    )] {
        let root: JSONValue
        do { root = try JSONValue.parse(text) } catch {
            throw ConfigError(
                issues: [ConfigIssue(path: "", message: "not valid JSON: \(Config.describe(error))")], malformed: true)
        }
        guard case .array(let items) = root else {
            throw ConfigError(
                issues: [ConfigIssue(path: "", message: "expected an array of answers, got \(root.shortDescription)")],
                malformed: true)
        }
        let reader = ConfigReader()
        var out: [(UInt64, Result<GenerationResult, BackendError>)] = []
        for (i, item) in items.enumerated() {
            guard let o = reader.object(item, at: "[\(i)]") else { continue }
            guard let ticket = o.int("ticket", max: maxTicket) else {
                if !o.has("ticket") { reader.report(o.childPath("ticket"), "missing") }
                o.finish(known: Array(o.fields.keys))
                continue
            }
            if let message = o.string("error") {
                let error = BackendError(message, retryable: o.bool("retryable") ?? false, kind: "host error")
                out.append((UInt64(ticket), .failure(error)))
            } else if let text = o.string("text") {
                out.append(
                    (
                        UInt64(ticket),
                        .success(
                            GenerationResult(
                                text: text, finishReason: o.string("finish_reason"),
                                promptTokens: o.int("prompt_tokens", min: 0),
                                completionTokens: o.int("completion_tokens", min: 0)))
                    ))
            } else {
                reader.report(o.childPath("text"), "missing: an answer has \"text\" or \"error\"")
            }
            o.finish()
        }
        guard reader.issues.isEmpty else { throw ConfigError(issues: reader.issues) }
        return out
    }
}

/// What a host asks to run (`parley_run`, `parley_job_start`).
public struct JobSpec: Sendable {
    public var seeds: SeedInput
    public var out: String?
    public var fresh = false
    public var returnDialogues = true
    /// The part of the seeds to run (`"shard": "K/N"`); nil: the config's `run.shard`.
    public var shard: Shard?

    public static func parse(_ text: String) throws(ConfigError) -> JobSpec {
        let root: JSONValue
        do { root = try JSONValue.parse(text) } catch {
            throw ConfigError(
                issues: [ConfigIssue(path: "job", message: "not valid JSON: \(Config.describe(error))")],
                malformed: true)
        }
        let reader = ConfigReader()
        guard let o = reader.object(root, at: "job") else { throw ConfigError(issues: reader.issues, malformed: true) }
        var spec = JobSpec(seeds: .lines([]))
        switch (o.raw("seeds"), o.string("seeds_file", nonEmpty: true)) {
        case (.array(let items)?, nil):
            spec.seeds = .lines(
                items.map { item in
                    if case .string(let line) = item { return line }
                    return item.canonicalText
                })
        case (nil, let file?):
            spec.seeds = .file(file)
        case (let v?, nil):
            reader.report("job.seeds", "expected an array of seeds, got \(v.shortDescription)")
        case (.some, .some):
            reader.report("job", "give \"seeds\" or \"seeds_file\", not both")
        case (nil, nil):
            if !o.has("seeds_file") {
                reader.report("job.seeds", "missing: \"seeds\" (an array) or \"seeds_file\" (a path)")
            }
        }
        spec.out = o.string("out", nonEmpty: true)
        spec.fresh = o.bool("fresh") ?? false
        if let r = o.oneOf("return", ["dialogues", "summary"]) { spec.returnDialogues = r == "dialogues" }
        if let text = o.string("shard") {
            spec.shard = Shard(text)
            if spec.shard == nil { reader.report("job.shard", "expected \"K/N\" with 1 ≤ K ≤ N, got \"\(text)\"") }
        }
        o.finish()
        guard reader.issues.isEmpty else { throw ConfigError(issues: reader.issues) }
        return spec
    }

    /// The job's result: the summary, where the files are and, if asked, the dialogues.
    public func result(_ summary: RunSummary) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("out")
        w.string(summary.outputDir)
        w.key("files")
        w.beginObject()
        for name in summary.files {
            w.key(String(name.dropLast(".jsonl".count)))
            w.string(summary.outputDir + "/" + name)
        }
        w.endObject()
        w.endObject()
        var text = w.text
        text.removeLast()  // splice in the raw JSON of the summary and the dialogue rows
        text += ",\"summary\":" + summary.json
        if returnDialogues {
            // LineReader, not String(contentsOfFile:): Foundation leaks a buffer on empty files.
            var rows: [String] = []
            if let reader = try? LineReader(path: summary.outputDir + "/" + DatasetWriter.dialoguesFile) {
                while let (row, complete) = reader.next(), complete { rows.append(row) }
            }
            text += ",\"dialogues\":[" + rows.joined(separator: ",") + "]"
        }
        return text + "}"
    }
}

/// What a host asks to merge (`parley_merge`): `{"dirs": [...], "out": "..."}`.
public struct MergeRequest: Sendable {
    public var dirs: [String]
    public var out: String

    public static func parse(_ text: String) throws(ConfigError) -> MergeRequest {
        let root: JSONValue
        do { root = try JSONValue.parse(text) } catch {
            let issue = ConfigIssue(path: "request", message: "not valid JSON: \(Config.describe(error))")
            throw ConfigError(issues: [issue], malformed: true)
        }
        let reader = ConfigReader()
        guard let o = reader.object(root, at: "request") else {
            throw ConfigError(issues: reader.issues, malformed: true)
        }
        let dirs = o.strings("dirs") ?? []
        let out = o.string("out", nonEmpty: true)
        if dirs.isEmpty && !reader.issues.contains(where: { $0.path == "request.dirs" }) {
            reader.report("request.dirs", "missing: the shards' run directories (a non-empty array)")
        }
        if out == nil && !o.has("out") { reader.report("request.out", "missing: the directory to merge into") }
        o.finish()
        guard reader.issues.isEmpty, let out else { throw ConfigError(issues: reader.issues) }
        return MergeRequest(dirs: dirs, out: out)
    }
}

extension Runner.RunEvent {
    /// The event as `parley_job_next_event` reports it.
    public var json: String {
        var w = JSONWriter()
        w.beginObject()
        switch self {
        case .dialogueStarted(let id, let resumed):
            w.field("event", "dialogue_started")
            w.field("id", id)
            w.key("resumed")
            w.bool(resumed)
        case .message(let id, let index, let role):
            w.field("event", "message")
            w.field("id", id)
            w.field("index", index)
            w.field("role", role)
        case .dialogueEnded(let id, let status, let reason):
            w.field("event", "dialogue_ended")
            w.field("id", id)
            w.field("status", status.rawValue)
            w.field("end_reason", reason.rawValue)
        case .limitChanged(let backend, let url, let limit):
            w.field("event", "limit")
            w.field("backend", backend)
            w.field("url", url)
            w.field("limit", limit)
        case .metricsServed(let url):
            w.field("event", "metrics")
            w.field("url", url)
        }
        w.endObject()
        return w.text
    }
}

extension Runner.LiveCounts {
    /// The progress object of `parley_job_progress`.
    public func json(state: String) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("state", state)
        w.field("seeds", totalSeeds)
        w.field("ended", ended)
        w.field("failed", failed)
        w.field("messages", messages)
        w.field("tokens", tokens)
        w.field("in_flight", inFlight)
        w.field("resumed", resumedEnded)
        w.endObject()
        return w.text
    }
}
