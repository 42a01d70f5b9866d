@testable import Parley

/// A seventh recipe, defined outside the Parley module: the proof that a recipe is one folder
/// plus one registry line (`RecipeRegistry.register(EchoRecipe.self)`). Its one role, `echoer`,
/// answers the seed's question `echo.times` times; every answer is journaled as a message, then
/// a tally record counts their words; `echo.jsonl` gets one row per dialogue.
struct EchoRecipe: RecipeKind {
    static let name = "echo"
    static let roles = [RoleDeclaration("echoer", defaults: { $0.maxTokens = 16 })]
    static let settings: (any RecipeSettings.Type)? = EchoSettings.self
    static let file = "echo.jsonl"
    static let allOutputFiles = [file]
    static let records: (any RecipeRecord.Type)? = EchoTally.self

    let echoer: Role
    let times: Int
    let step: TurnStep

    init(engine: Engine) throws(ConfigError) {
        guard let echoer = engine.roles["echoer"] else {
            throw ConfigError(issues: [ConfigIssue(path: "roles.echoer", message: "the echo recipe needs it")])
        }
        self.echoer = echoer
        times = engine.config.echo.times
        step = TurnStep(runSeed: engine.config.run.seed)
    }

    var outputFiles: [String] { [Self.file] }

    func begin(_ seed: Seed, runSeed: UInt64) -> Dialogue {
        guard let question = seed.question, !question.isEmpty else {
            return Runner.invalidSeed(seed, reason: "seeds line \(seed.line): expected \"question\"")
        }
        return Dialogue(seed: seed, messages: [Message(.user, question)])
    }

    func run(_ d: inout Dialogue, record: Recorder) async throws -> EndReason {
        var cache = TurnStep.Memo()
        while d.messages.count < 1 + times {
            switch try await step.run(echoer, writing: .assistant, in: d, cache: &cache) {
            case .contextExhausted:
                return .contextExhausted
            case .message(let m):
                try record.message(m, d.messages.count)
                d.messages.append(m)
            }
        }
        if d.records(EchoTally.self).isEmpty {
            let words = d.messages.dropFirst().reduce(0) { $0 + $1.content.split(separator: " ").count }
            try record.add(EchoTally(words: words), to: &d)
        }
        return .maxTurns
    }

    func rows(_ d: Dialogue) -> [(file: String, row: [UInt8])] {
        var w = JSONWriter()
        w.beginObject()
        w.field("id", d.id)
        w.key("echoes")
        w.beginArray()
        for m in d.messages.dropFirst() { w.string(m.content) }
        w.endArray()
        w.field("words", d.records(EchoTally.self).first?.words ?? 0)
        w.endObject()
        return [(Self.file, w.line())]
    }
}

/// The recipe's record: how many words its echoes had (`{"kind": "tally", "words": N}`).
struct EchoTally: RecipeRecord, Equatable {
    var words: Int

    private struct Fields: Codable {
        var words: Int
    }

    init(words: Int) { self.words = words }

    init(from decoder: Decoder) throws {
        let kind = try decoder.recordKind()
        guard kind == "tally" else { throw decoder.unknownRecordKind(kind) }
        words = try Fields(from: decoder).words
    }

    func encode(to encoder: Encoder) throws {
        try encoder.encodeRecord(Fields(words: words), kind: "tally")
    }

    var tally: RecordTally { RecordTally(kind: "tally") }
}

/// The `echo` section of the config.
struct EchoSettings: RecipeSettings, Equatable {
    static let section = "echo"
    var times = 2

    init() {}

    init(reading o: ObjectReader) {
        defer { o.finish() }
        if let n = o.int("times", max: 10) { times = n }
    }
}

extension Config {
    var echo: EchoSettings {
        get { sections[EchoSettings.self] }
        set { sections[EchoSettings.self] = newValue }
    }
}
