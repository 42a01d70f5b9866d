import FoundationEssentials

/// CaPO (Parrot): preference pairs that teach a model to use the dialogue's context.
/// For each user turn that leans on the history (the built-in anaphora/ellipsis cue,
/// optionally confirmed by the judge), the dialogue's real reply is *chosen* and each
/// strategy makes a *rejected* one. Every selection and pair is journaled as made.
struct CaPORecipe: RecipeKind {
    static let name = "capo"
    static let systemRole: String? = "assistant"
    static let roles = [
        RoleDeclaration("assistant"),
        // Confirms the turns that need their context (`capo.confirm_with_judge`, by default when present).
        RoleDeclaration("judge", required: false, judges: true, defaults: EvalRecipe.greedy),
    ]
    static let settings: (any RecipeSettings.Type)? = CaPOSettings.self
    static let allOutputFiles = [pairsFile, flatFile]
    static let records: (any RecipeRecord.Type)? = CaPORecord.self

    static let pairsFile = "pairs.jsonl"
    static let flatFile = "pairs_flat.jsonl"

    let assistant: Role
    let judge: Judge?
    let settings: CaPOSettings
    let step: TurnStep

    init(engine: Engine) throws(ConfigError) {
        guard let assistant = engine.roles["assistant"] else {
            throw ConfigError(issues: [
                ConfigIssue(
                    path: "roles.assistant",
                    message: "the capo recipe needs an assistant role (it writes the rejected answers)")
            ])
        }
        settings = engine.config.capo
        if settings.confirmWithJudge ?? (engine.roles["judge"] != nil) {
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
        step = TurnStep(runSeed: engine.config.run.seed)
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

    nonisolated(nonsending) func run(_ d: inout Dialogue, record: Recorder) async throws -> EndReason {
        var made = d.records(CaPORecord.self)
        func add(_ r: CaPORecord) throws {
            try record.add(r, to: &d)
            made.append(r)
        }
        for c in Self.candidates(d.messages) {
            try Task.checkCancellation()
            let selected: Bool
            if let known = made.lazy.compactMap(\.selectionValue).first(where: { $0.turn == c.turn }) {
                selected = known.selected
            } else {
                var s = CaPORecord.Selection(turn: c.turn, cue: c.cue, selected: true)
                if let judge {
                    let history = Array(d.messages[..<c.index])
                    s.confirmed = try await judge.needsHistory(d.messages[c.index].content, after: history)
                    s.selected = s.confirmed == true
                }
                try add(.selection(s))
                selected = s.selected
            }
            guard selected else { continue }
            let paired = Set(made.compactMap(\.pairValue).filter { $0.turn == c.turn }.map(\.strategy))
            for strategy in settings.strategies where !paired.contains(strategy.rawValue) {
                try add(.pair(try await rejected(strategy, for: c, in: d)))
            }
        }
        d.meta["capo"] = .array(d.records)
        return .maxTurns
    }

    /// One rejected answer for the turn at `c.index`.
    func rejected(_ strategy: CaPOSettings.Strategy, for c: (turn: Int, index: Int, cue: String), in d: Dialogue)
        async throws -> CaPORecord.Pair
    {
        let turnText = d.messages[c.index].content
        let chosen = d.messages[c.index + 1].content
        var pair = CaPORecord.Pair(turn: c.turn, strategy: strategy.rawValue)
        var history: [Message]
        switch strategy {
        case .neglect:
            history = [Message(.user, turnText)]
        case .hallucination:
            let ask = settings.prompts.guess.replacing("{message}", with: turnText)
            let guess = try await generate([Message(.user, ask)], d, c.turn, "guess", counting: &pair)
            pair.guess = guess
            history = [Message(.user, guess)]
        case .misunderstanding:
            let before = d.messages[..<c.index]
            let ask = settings.prompts.referent.replacing(
                "{history}", with: before.map(View.transcriptLine).joined()
            ).replacing("{message}", with: turnText)
            let quote = Self.unquoted(try await generate([Message(.user, ask)], d, c.turn, "referent", counting: &pair))
            guard !quote.isEmpty else {
                pair.dropped = "the model quoted no referent"
                return pair
            }
            let holder = before.firstIndex { $0.content.contains(quote) }
            pair.referent = CaPORecord.Referent(
                turn: holder.map { i in before[...i].filter { $0.speaker == .user }.count }, text: quote)
            history = Array(d.messages[...c.index])
        }
        let misreading = pair.referent.map {
            settings.prompts.misunderstanding.replacing("{referent}", with: $0.text)
        }
        let answer = try await generate(history, d, c.turn, strategy.rawValue, counting: &pair, system: misreading)
        pair.rejected = answer
        let similarity = Similarity.rougeL(chosen, answer)
        if answer.isEmpty {
            pair.dropped = "empty"
        } else if similarity >= settings.nearIdentical {
            pair.dropped = "near-identical to the chosen answer (ROUGE-L \(DialogueFilters.format(similarity)))"
        }
        return pair
    }

    /// A model's quote without the whitespace and quotation marks around it.
    static func unquoted(_ text: String) -> String {
        let quotes: Set<Unicode.Scalar> = ["\"", "'", "“", "”", "‘", "’", "«", "»"]
        return String(text[...].trimmingScalars { $0.properties.isWhitespace || quotes.contains($0) })
    }

    /// The assistant's answer to `history` (its own system prompt, plus `system` if given);
    /// its token counts are added to `pair`'s.
    nonisolated(nonsending) private func generate(
        _ history: [Message], _ d: Dialogue, _ turn: Int, _ purpose: String,
        counting pair: inout CaPORecord.Pair, system: String? = nil
    ) async throws -> String {
        let role =
            system.map { assistant.with(system: View.joined(assistant.config.systemPrompt ?? "", $0)) } ?? assistant
        let m = try await step.answer(role, to: history, id: "\(d.id)#\(turn)#\(purpose)", line: d.seed.line)
        if let n = m.meta?.promptTokens { pair.promptTokens = (pair.promptTokens ?? 0) + n }
        if let n = m.meta?.completionTokens { pair.completionTokens = (pair.completionTokens ?? 0) + n }
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
        for p in d.records(CaPORecord.self).compactMap(\.pairValue) {
            guard p.dropped == nil, let rejected = p.rejected, let i = indexOfTurn[p.turn] else { continue }
            var w = JSONWriter()
            w.beginObject()
            w.key("prompt")
            w.beginArray()
            for m in d.messages[...i] { w.message(m.speaker, m.content) }
            w.endArray()
            w.key("chosen")
            Self.answer(d.messages[i + 1].content, into: &w)
            w.key("rejected")
            Self.answer(rejected, into: &w)
            w.field("strategy", p.strategy)
            w.field("dialogue_id", d.id)
            w.field("turn", p.turn)
            w.nullable("guess", p.guess)
            w.key("referent")
            w.value((try? JSONValue(encoding: p.referent)) ?? .null)
            w.endObject()
            out.append((Self.pairsFile, w.line()))
            if settings.flat {
                var f = JSONWriter()
                f.beginObject()
                f.field("prompt", d.messages[...i].map(View.transcriptLine).joined() + "Assistant:")
                f.field("chosen", d.messages[i + 1].content)
                f.field("rejected", rejected)
                f.field("strategy", p.strategy)
                f.field("dialogue_id", d.id)
                f.field("turn", p.turn)
                f.endObject()
                out.append((Self.flatFile, f.line()))
            }
        }
        return out
    }

    static func answer(_ text: String, into w: inout JSONWriter) {
        w.beginArray()
        w.message(.assistant, text)
        w.endArray()
    }
}
