import FoundationEssentials

/// The run's append-only record, one JSON object per line, from which an interrupted
/// run resumes exactly where it stopped:
/// - `{"t":"start","d":id,"seed":{…},"meta":{…},"messages":[…]}` — a dialogue begins
///   (with the messages its seed gives);
/// - `{"t":"msg","d":id,"n":index,"m":{role,content,meta}}` — a message was generated;
/// - `{"t":"rec","d":id,"n":index,"r":{…}}` — a recipe's product (a judgment, a preference pair,
///   an expert identity) was made (older journals wrote judgments as `{"t":"judge","d":id,"j":{…}}`);
/// - `{"t":"end","d":id,"status":…,"reason":…,"sizes":{file: bytes}}` — the dialogue was
///   written to its output file; `sizes` are the output files' lengths just after, so a
///   resume can cut away a write that a crash interrupted.
/// Each line reaches the kernel before the dialogue goes on (copied into a shared mapping of the
/// file: `MappedAppendFile`); after a crash the file may end in NUL bytes, which a resume cuts away.
public final class Journal: Sendable {
    private let file: Locked<MappedAppendFile>
    private let fd: Int32

    init(path: String) throws {
        let file = try MappedAppendFile(path: path)
        fd = file.fd
        self.file = Locked(file)
    }

    /// Cuts the file back to its lines (the mapping grew it a window at a time); lines added later fail.
    func close() throws { try file.withLock { try $0.close() } }

    /// Bytes written so far.
    var size: Int { file.withLock { $0.size } }

    /// Makes every line written so far durable (`run.durability: "fsync"`).
    func sync() throws { try GroupCommit.sync(fd, "the journal") }

    func start(_ d: Dialogue) throws {
        var w = JSONWriter()
        w.beginObject()
        w.field("t", "start")
        w.field("d", d.id)
        w.key("seed")
        HotPathJSON.seed(d.seed, into: &w)
        w.key("meta")
        w.value(.object(d.meta))
        w.key("messages")
        w.beginArray()
        for m in d.messages { HotPathJSON.message(m, into: &w) }
        w.endArray()
        w.endObject()
        try append(w)
    }

    func message(_ m: Message, index: Int, of id: String) throws {
        var w = JSONWriter()
        w.beginObject()
        w.field("t", "msg")
        w.field("d", id)
        w.field("n", index)
        w.key("m")
        HotPathJSON.message(m, into: &w)
        w.endObject()
        try append(w)
    }

    func record(_ r: JSONValue, index: Int, of id: String) throws {
        var w = JSONWriter()
        w.beginObject()
        w.field("t", "rec")
        w.field("d", id)
        w.field("n", index)
        w.key("r")
        w.value(r)
        w.endObject()
        try append(w)
    }

    func end(_ d: Dialogue, sizes: [(String, Int)]) throws {
        var w = JSONWriter()
        w.beginObject()
        w.field("t", "end")
        w.field("d", d.id)
        w.field("status", d.status.rawValue)
        w.field("reason", d.endReason?.rawValue)
        w.field("failure", d.failure)
        w.field("kept", d.messages.count)
        if !d.filtering.isEmpty {
            w.key("filters")
            try w.encode(d.filtering)
        }
        w.key("sizes")
        w.beginObject()
        for (name, n) in sizes {
            w.key(name)
            w.int(n)
        }
        w.endObject()
        w.endObject()
        try append(w)
    }

    private func append(_ record: consuming JSONWriter) throws {
        // Written from the writer's buffer: a copy of every line into an array first is not needed.
        try record.withLine { line in
            let ahead = try file.withLock { try $0.append(line) }
            ahead?.populate()
        }
    }
}

/// What a journal says about a run that stopped.
struct JournalReplay {
    /// Dialogues that ended and were written, by id.
    var ended: Set<String> = []
    /// Dialogues begun but not ended, with their messages so far.
    var unfinished: [String: Dialogue] = [:]
    /// Output file lengths as of the last end record.
    var sizes: [String: Int] = [:]
    /// The corpus keys of the dialogues kept in `dialogues.jsonl`, when the duplicates filter needs them.
    var kept: [(id: String, keys: CorpusIndex.Keys)] = []
    private var collectsKeys = false
    /// The type the run's recipe's records have, for `stats`.
    private var recordType: (any RecipeRecord.Type)?
    /// Aggregates over the ended dialogues.
    var stats = RunStats()
    /// Bytes of complete lines (a partial last line is cut away before appending).
    var validBytes = 0

    /// - Parameters:
    ///   - records: the type the run's recipe's records have (nil: it makes none).
    ///   - corpusKeys: collect `kept` (it tokenizes every finished dialogue).
    static func read(path: String, records: (any RecipeRecord.Type)?, corpusKeys: Bool = false) throws
        -> JournalReplay
    {
        guard FileManager.default.fileExists(atPath: path) else { return JournalReplay() }
        return try read(try LineReader(path: path), records: records, corpusKeys: corpusKeys)
    }

    static func read(_ reader: LineReader, records: (any RecipeRecord.Type)?, corpusKeys: Bool = false) throws
        -> JournalReplay
    {
        var replay = JournalReplay()
        replay.collectsKeys = corpusKeys
        replay.recordType = records
        let decoder = JSONDecoder()
        while let (text, complete) = reader.next() {
            guard complete else { break }  // a write cut short by a crash
            // Foundation keeps one of two equal keys; a line with both (a "d" of two dialogues) was
            // never written by Parley, so it is corrupt, not a record of either.
            guard Self.topLevelKeysAreUnique(text), let event = try? decoder.decode(Event.self, from: Data(text.utf8)),
                event.isPlausible
            else {
                throw RunError.corruptJournal(
                    "journal line \(reader.lineNumber) is not a journal record: \(text.prefix(80))")
            }
            replay.apply(event)
            replay.validBytes = reader.completeBytes
        }
        return replay
    }

    /// Whether the object's own keys (not those of nested values) are all different. A byte scan
    /// that follows strings and nesting; malformed text passes (the decoder refuses it).
    static func topLevelKeysAreUnique(_ text: String) -> Bool {
        var keys: [Substring.UTF8View] = []
        let bytes = text.utf8
        var depth = 0
        var expectingKey = false
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                var end = bytes.index(after: i)
                while end < bytes.endIndex && bytes[end] != UInt8(ascii: "\"") {
                    end =
                        bytes.index(end, offsetBy: bytes[end] == UInt8(ascii: "\\") ? 2 : 1, limitedBy: bytes.endIndex)
                        ?? bytes.endIndex
                }
                if depth == 1 && expectingKey {
                    let key = Substring(text)[bytes.index(after: i)..<end].utf8
                    if keys.contains(where: { $0.elementsEqual(key) }) { return false }
                    keys.append(key)
                    expectingKey = false
                }
                i = end < bytes.endIndex ? bytes.index(after: end) : end
                continue
            }
            switch b {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                expectingKey = depth == 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: ","): if depth == 1 { expectingKey = true }
            default: break
            }
            i = bytes.index(after: i)
        }
        return true
    }

    private mutating func apply(_ e: Event) {
        switch e.t {
        case "start":
            guard let seed = e.seed?.seed else { return }
            var d = Dialogue(seed: seed, messages: e.messages ?? [])
            d.id = e.d
            d.meta = e.meta ?? [:]
            unfinished[e.d] = d
        case "msg":
            guard let m = e.m, let n = e.n, var d = unfinished[e.d], n == d.messages.count else { return }
            unfinished[e.d] = nil  // keep the array uniquely referenced while appending
            d.messages.append(m)
            unfinished[e.d] = d
        case "judge":
            // Journals before judgments became eval's records wrote them as "judge" lines; one counts
            // only when it judges the next turn (a repeated line counts once, as `n` ensures for "rec").
            guard let j = e.j, var d = unfinished[e.d], j.objectValue?["turn"] == .number(Double(d.records.count + 1))
            else { return }
            d.records.append(j)
            unfinished[e.d] = d
        case "rec":
            guard let r = e.r, let n = e.n, var d = unfinished[e.d], n == d.records.count else { return }
            d.records.append(r)
            unfinished[e.d] = d
        case "end":
            guard !ended.contains(e.d) else { return }  // a repeated end record (a duplicated line) counts once
            var d = unfinished.removeValue(forKey: e.d) ?? Dialogue(seed: Seed(id: e.d))
            d.status = DialogueStatus(rawValue: e.status ?? "") ?? .failed
            d.endReason = e.reason.map(EndReason.init(rawValue:))
            d.failure = e.failure
            if let n = e.kept { d.trim(from: n) }
            d.filtering = e.filters ?? []
            if collectsKeys && d.status == .finished { kept.append((e.d, CorpusIndex.keys(of: d.messages))) }
            ended.insert(e.d)
            stats.add(d, records: recordType)
            for (k, v) in e.sizes ?? [:] { sizes[k] = v }
        default: break
        }
    }

    private struct Event: Decodable {
        var t: String
        var d: String
        var seed: SeedRecord?
        var meta: [String: JSONValue]?
        var n: Int?
        var m: Message?
        var messages: [Message]?
        var j: JSONValue?
        var r: JSONValue?
        var status: String?
        var reason: String?
        var failure: String?
        var kept: Int?
        var filters: [FilterDecision]?
        var sizes: [String: Int]?

        /// Counts and lengths are never negative in a line Parley wrote (found by FuzzJournal: a
        /// negative `kept` reached `Dialogue.trim`).
        var isPlausible: Bool {
            (n ?? 0) >= 0 && (kept ?? 0) >= 0 && (sizes ?? [:]).values.allSatisfy { $0 >= 0 }
        }
    }
}

/// A seed as journals and output rows store it.
struct SeedRecord: Decodable {
    var id: String
    var line: Int?
    var question: String?
    var answer: String?
    var topic: String?
    var extra: [String: JSONValue]?
    var seed: Seed? {
        Seed(id: id, line: line ?? 0, question: question, answer: answer, topic: topic, extra: extra ?? [:])
    }
}
