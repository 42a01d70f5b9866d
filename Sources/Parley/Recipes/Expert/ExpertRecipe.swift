/// Writes expert identities and lets the assistant answer as them (ExpertPrompting).
struct ExpertWriter: Sendable {
    let writer: Role
    let settings: ExpertSettings
    let step: TurnStep

    init?(engine: Engine) {
        guard let writer = engine.roles["expert_writer"] else { return nil }
        self.writer = writer
        settings = engine.config.expert
        step = TurnStep(runSeed: engine.config.run.seed)
    }

    /// The few-shot request for one instruction.
    func prompt(for instruction: String) -> String {
        settings.writerInstruction + "\n\n"
            + settings.examples.map { "Instruction: \($0.instruction)\nExpert: \($0.description)" }.joined(
                separator: "\n\n")
            + "\n\nInstruction: \(instruction)\nExpert:"
    }

    /// A second-person description of the ideal expert for `instruction`.
    nonisolated(nonsending) func identity(for instruction: String, in d: Dialogue) async throws -> String {
        try await step.answer(
            writer, to: [Message(.user, prompt(for: instruction))], id: d.id + "#expert", line: d.seed.line
        ).content
    }

    /// The identity recorded for the dialogue, written (and journaled) first if there is none.
    nonisolated(nonsending) func identity(of d: inout Dialogue, from instruction: String, record: Recorder) async throws
        -> String
    {
        let text: String
        if let known = d.records(ExpertRecord.self).lazy.compactMap(\.identityText).first {
            text = known
        } else {
            text = try await identity(for: instruction, in: d)
            try record.add(ExpertRecord.identity(text: text), to: &d)
        }
        d.meta["expert_identity"] = .string(text)
        return text
    }

    /// Cleans an answer that echoes its identity, journaling what was cut.
    func cleaned(_ m: Message, turn: Int, in d: inout Dialogue, record: Recorder) throws -> Message {
        guard settings.clean else { return m }
        let (text, removed) = ExpertEcho.clean(m.content)
        guard let removed else { return m }
        try record.add(ExpertRecord.cleaning(turn: turn, removed: removed), to: &d)
        var out = m
        out.content = text
        return out
    }
}

/// `recipe: "expert"`: one instruction per seed; the expert writer describes the ideal
/// expert, the assistant answers as that expert. Writes `expert.jsonl`.
struct ExpertRecipe: RecipeKind {
    static let name = "expert"
    static let systemRole: String? = "assistant"
    static let roles = [RoleDeclaration("expert_writer"), RoleDeclaration("assistant")]
    static let settings: (any RecipeSettings.Type)? = ExpertSettings.self
    static let allOutputFiles = [file]
    static let records: (any RecipeRecord.Type)? = ExpertRecord.self

    static let file = "expert.jsonl"
    let assistant: Role
    let expert: ExpertWriter

    init(engine: Engine) throws(ConfigError) {
        guard let assistant = engine.roles["assistant"], let expert = ExpertWriter(engine: engine) else {
            throw ConfigError(issues: [
                ConfigIssue(path: "roles", message: "the expert recipe needs roles expert_writer and assistant")
            ])
        }
        self.assistant = assistant
        self.expert = expert
    }

    var outputFiles: [String] { [Self.file] }

    func begin(_ seed: Seed, runSeed: UInt64) -> Dialogue {
        guard let instruction = seed.question ?? seed.extra["instruction"]?.stringValue, !instruction.isEmpty else {
            return Runner.invalidSeed(seed, reason: "seeds line \(seed.line): expected \"instruction\" or \"question\"")
        }
        return Dialogue(seed: seed, messages: [Message(.user, instruction)])
    }

    nonisolated(nonsending) func run(_ d: inout Dialogue, record: Recorder) async throws -> EndReason {
        let instruction = d.messages[0].content
        let identity = try await expert.identity(of: &d, from: instruction, record: record)
        if d.messages.count == 1 {
            var scratch = d
            let role: Role
            switch expert.settings.placement {
            case .system: role = assistant.with(system: identity)
            case .prefix:
                role = assistant
                let settings = expert.settings
                scratch.messages = [
                    Message(.user, identity + "\n\n" + settings.answerInstruction + "\n\n" + instruction)
                ]
            }
            var cache = TurnStep.Memo()
            switch try await expert.step.run(role, writing: .assistant, in: scratch, cache: &cache) {
            case .contextExhausted(let detail):
                d.meta["context_exhausted"] = .string(detail)
                return .contextExhausted
            case .message(let m):
                let answer = try expert.cleaned(m, turn: 1, in: &d, record: record)
                try record.message(answer, d.messages.count)
                d.messages.append(answer)
            }
        }
        if let removed = d.records(ExpertRecord.self).lazy.compactMap(\.removedText).first {
            d.meta["expert_cleaned"] = .string(removed)
        }
        return .maxTurns
    }

    func rows(_ d: Dialogue) -> [(file: String, row: [UInt8])] {
        guard d.messages.count >= 2 else { return [] }
        var w = JSONWriter()
        w.beginObject()
        w.field("id", d.id)
        w.field("instruction", d.messages[0].content)
        w.key("expert_identity")
        w.value(d.meta["expert_identity"] ?? .null)
        w.field("answer", d.messages[1].content)
        w.key("cleaned")
        w.value(d.meta["expert_cleaned"] ?? .null)
        w.endObject()
        return [(Self.file, w.line())]
    }
}
