import Foundation

/// CaPO (Parrot): preference pairs that teach a model to use the dialogue's context.
/// For each user turn that leans on the history (the built-in anaphora/ellipsis cue,
/// optionally confirmed by the judge), the dialogue's real reply is *chosen* and each
/// strategy makes a *rejected* one. Every selection and pair is journaled as made.
struct CaPORecipe: RecipeKind {
    static let name = "capo"
    static let systemRole: String? = "assistant"
    static let roles = [
        RoleDeclaration("assistant"),
        // `capo.confirm_with_judge`: confirms the turns that need their context.
        RoleDeclaration("judge", required: false, judges: true, defaults: EvalRecipe.greedy),
    ]
    static let settings: (any RecipeSettings.Type)? = CaPOSettings.self
    static let allOutputFiles = [pairsFile, flatFile]

    static let pairsFile = "pairs.jsonl"
    static let flatFile = "pairs_flat.jsonl"

    let assistant: Role
    let judge: Judge?
    let settings: CaPOSettings
    let step: TurnStep
    let runSeed: UInt64

    init(engine: Engine) throws(ConfigError) {
        guard let assistant = engine.roles["assistant"] else {
            throw ConfigError(issues: [
                ConfigIssue(
                    path: "roles.assistant",
                    message: "the capo recipe needs an assistant role (it writes the rejected answers)")
            ])
        }
        settings = engine.config.capo
        if settings.confirmWithJudge {
            guard let j = engine.roles["judge"] else {
                throw ConfigError(issues: [
                    ConfigIssue(path: "roles.judge", message: "capo.confirm_with_judge needs a judge role")
                ])
            }
            judge = Judge(endpoint: j.endpoint, role: j.config)
        } else {
            judge = nil
        }
        self.assistant = assistant
        runSeed = engine.config.run.seed
        step = TurnStep(runSeed: runSeed)
    }

    var outputFiles: [String] { settings.flat ? [Self.pairsFile, Self.flatFile] : [Self.pairsFile] }

    func begin(_ seed: Seed, runSeed: UInt64) -> Dialogue {
        var d = Dialogue(seed: seed)
        guard case .object(let row) = JSONValue.object(seed.extra), let shape = DatasetShape.detect(row),
            let messages = shape.messages(of: row), messages.contains(where: { $0.speaker == .user })
        else {
            return Runner.invalidSeed(
                seed, reason: "seeds line \(seed.line): expected a dialogue (conversations or messages)")
        }
        d.messages = messages
        return d
    }

    /// User turns (1-based exchange numbers, the first excluded) that have a reply and a context cue.
    static func candidates(_ messages: [Message]) -> [(turn: Int, index: Int, cue: String)] {
        var out: [(Int, Int, String)] = []
        var turn = 0
        for (i, m) in messages.enumerated() where m.speaker == .user {
            turn += 1
            guard turn > 1, i + 1 < messages.count, messages[i + 1].speaker == .assistant,
                let cue = FollowUps.contextCue(Words.tokens(m.content))
            else { continue }
            out.append((turn, i, cue))
        }
        return out
    }

    func run(_ d: inout Dialogue, record: Recorder) async throws -> EndReason {
        func done(_ kind: String, _ turn: Int, _ strategy: String? = nil) -> JSONValue? {
            d.records.first { r in
                guard case .object(let o) = r else { return false }
                return o["kind"]?.stringValue == kind && o["turn"] == .number(Double(turn))
                    && o["strategy"]?.stringValue == strategy
            }
        }
        func add(_ fields: [String: JSONValue]) throws {
            let r = JSONValue.object(fields)
            try record.other(r, d.records.count)
            d.records.append(r)
        }
        for c in Self.candidates(d.messages) {
            try Task.checkCancellation()
            var selection = done("select", c.turn)
            if selection == nil {
                var fields: [String: JSONValue] = [
                    "kind": "select", "turn": .number(Double(c.turn)), "cue": .string(c.cue),
                ]
                if let judge {
                    let history = Array(d.messages[..<c.index])
                    let verdict = try await judge.needsHistory(d.messages[c.index].content, after: history)
                    fields["confirmed"] = verdict.map(JSONValue.bool) ?? .null
                    fields["selected"] = .bool(verdict == true)
                } else {
                    fields["selected"] = true
                }
                try add(fields)
                selection = d.records.last
            }
            guard selection?.objectValue?["selected"] == .bool(true) else { continue }
            for strategy in settings.strategies where done("pair", c.turn, strategy.rawValue) == nil {
                try await add(rejected(strategy, for: c, in: d))
            }
        }
        d.meta["capo"] = .array(d.records)
        return .maxTurns
    }

    /// One rejected answer for the turn at `c.index`, as a journal record.
    func rejected(_ strategy: CaPOSettings.Strategy, for c: (turn: Int, index: Int, cue: String), in d: Dialogue)
        async throws -> [String: JSONValue]
    {
        let turnText = d.messages[c.index].content
        let chosen = d.messages[c.index + 1].content
        var fields: [String: JSONValue] = [
            "kind": "pair", "turn": .number(Double(c.turn)), "strategy": .string(strategy.rawValue),
            "guess": .null, "referent": .null, "dropped": .null,
        ]
        var history: [Message]
        switch strategy {
        case .neglect:
            history = [Message(.user, turnText)]
        case .hallucination:
            let ask = settings.prompts.guess.replacingOccurrences(of: "{message}", with: turnText)
            let guess = try await generate([Message(.user, ask)], d, c.turn, "guess", tokens: &fields)
            fields["guess"] = .string(guess)
            history = [Message(.user, guess)]
        case .misunderstanding:
            // An earlier exchange that is not the one just before the turn (the likely referent).
            let starts = d.messages[..<c.index].indices.filter { d.messages[$0].speaker == .user && $0 + 1 < c.index }
            let others = starts.dropLast()
            guard !others.isEmpty else {
                fields["dropped"] = "no earlier exchange besides the previous one to misread"
                fields["rejected"] = .null
                return fields
            }
            let pick = others[
                others.startIndex + Int(StableHash.of(String(runSeed), d.id, String(c.turn)) % UInt64(others.count))]
            fields["referent"] = .object([
                "turn": .number(Double(d.messages[..<pick].filter { $0.speaker == .user }.count + 1)),
                "text": .string(String(d.messages[pick].content.prefix(200))),
            ])
            history = [d.messages[pick], d.messages[pick + 1], Message(.user, turnText)]
        }
        let answer = try await generate(
            history, d, c.turn, strategy.rawValue, tokens: &fields,
            system: strategy == .misunderstanding ? settings.prompts.misunderstanding : nil)
        fields["rejected"] = .string(answer)
        let similarity = Similarity.rougeL(chosen, answer)
        if answer.isEmpty {
            fields["dropped"] = "empty"
        } else if similarity >= settings.nearIdentical {
            fields["dropped"] = .string(
                "near-identical to the chosen answer (ROUGE-L \(DialogueFilters.format(similarity)))")
        }
        return fields
    }

    /// The assistant's answer to `history` (its own system prompt, plus `system` if given);
    /// its token counts are added to `tokens`' `prompt_tokens` and `completion_tokens`.
    private func generate(
        _ history: [Message], _ d: Dialogue, _ turn: Int, _ purpose: String,
        tokens: inout [String: JSONValue], system: String? = nil
    ) async throws -> String {
        let role =
            system.map { assistant.with(system: View.joined(assistant.config.systemPrompt ?? "", $0)) } ?? assistant
        let m = try await step.answer(role, to: history, id: "\(d.id)#\(turn)#\(purpose)", line: d.seed.line)
        for (key, n) in [("prompt_tokens", m.meta?.promptTokens), ("completion_tokens", m.meta?.completionTokens)] {
            guard let n else { continue }
            if case .number(let before)? = tokens[key] {
                tokens[key] = .number(before + Double(n))
            } else {
                tokens[key] = .number(Double(n))
            }
        }
        return m.content
    }

    func rows(_ d: Dialogue) -> [(file: String, row: [UInt8])] {
        var out: [(String, [UInt8])] = []
        var userTurn = 0
        var indexOfTurn: [Int: Int] = [:]
        for (i, m) in d.messages.enumerated() where m.speaker == .user {
            userTurn += 1
            indexOfTurn[userTurn] = i
        }
        for r in d.records {
            guard case .object(let o) = r, o["kind"]?.stringValue == "pair", o["dropped"] == .null,
                let rejected = o["rejected"]?.stringValue, case .number(let t)? = o["turn"], let i = indexOfTurn[Int(t)]
            else { continue }
            var w = JSONWriter()
            w.beginObject()
            w.key("prompt")
            w.beginArray()
            for m in d.messages[...i] {
                w.beginObject()
                w.field("role", m.speaker.rawValue)
                w.field("content", m.content)
                w.endObject()
            }
            w.endArray()
            w.key("chosen")
            Self.answer(d.messages[i + 1].content, into: &w)
            w.key("rejected")
            Self.answer(rejected, into: &w)
            w.field("strategy", o["strategy"]?.stringValue ?? "")
            w.field("dialogue_id", d.id)
            w.field("turn", Int(t))
            w.key("guess")
            w.value(o["guess"] ?? .null)
            w.key("referent")
            w.value(o["referent"] ?? .null)
            w.endObject()
            out.append((Self.pairsFile, w.line()))
            if settings.flat {
                var f = JSONWriter()
                f.beginObject()
                f.field("prompt", d.messages[...i].map(View.transcriptLine).joined() + "Assistant:")
                f.field("chosen", d.messages[i + 1].content)
                f.field("rejected", rejected)
                f.field("strategy", o["strategy"]?.stringValue ?? "")
                f.field("dialogue_id", d.id)
                f.field("turn", Int(t))
                f.endObject()
                out.append((Self.flatFile, f.line()))
            }
        }
        return out
    }

    static func answer(_ text: String, into w: inout JSONWriter) {
        w.beginArray()
        w.beginObject()
        w.field("role", "assistant")
        w.field("content", text)
        w.endObject()
        w.endArray()
    }
}
