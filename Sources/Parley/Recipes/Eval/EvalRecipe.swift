import FoundationEssentials

/// MT-Bench++-style evaluation: a session's user turns are asked one by one, the
/// `candidate` answers each with its own earlier answers in the history, and the
/// `judge` rates every turn given the conversation so far. Sessions that already have
/// answers are judged only; in pairwise mode two candidates' answers are compared in
/// both orders. Answers and judgments are journaled as they are made.
struct EvalRecipe: RecipeKind {
    static let name = "eval"
    static let roles = [
        RoleDeclaration("judge", judges: true, defaults: Self.greedy),
        // Answers sessions that have no answers yet; up to 1024 tokens, as FastChat's MT-Bench answers.
        RoleDeclaration("candidate", required: false, defaults: { $0.maxTokens = 1024 }),
    ]
    static let settings: (any RecipeSettings.Type)? = EvalSettings.self
    static let records: (any RecipeRecord.Type)? = Judgment.self

    /// Judges are greedy unless the config says otherwise.
    @Sendable static func greedy(_ role: inout RoleConfig) { role.temperature = 0 }

    let candidate: Role?
    let judge: Role
    let settings: EvalSettings
    let fastChat: FastChatPrompts?
    let runSeed: UInt64
    let step: TurnStep

    init(engine: Engine) throws(ConfigError) {
        guard let judge = engine.roles["judge"] else {
            throw ConfigError(issues: [ConfigIssue(path: "roles.judge", message: "the eval recipe needs a judge role")])
        }
        self.judge = judge
        candidate = engine.roles["candidate"]
        settings = engine.config.eval
        fastChat = try Self.loadFastChat(settings)
        runSeed = engine.config.run.seed
        step = TurnStep(runSeed: engine.config.run.seed)
    }

    /// The `eval.judge_prompts` file, with the four prompts the mode needs.
    static func loadFastChat(_ settings: EvalSettings) throws(ConfigError) -> FastChatPrompts? {
        guard let path = settings.judgePrompts else { return nil }
        let key = "eval.judge_prompts"
        let prompts: FastChatPrompts
        do { prompts = try FastChatPrompts(path: path) } catch {
            throw ConfigError(issues: [ConfigIssue(path: key, message: "\(error)")])
        }
        let pairwise = settings.mode == .pairwise
        let needed = [false, true].flatMap { reference in
            [1, 2].map { FastChatPrompts.name(pairwise: pairwise, reference: reference, turn: $0) }
        }
        let missing = needed.filter { prompts.prompts[$0] == nil }
        guard missing.isEmpty else {
            throw ConfigError(issues: [
                ConfigIssue(path: key, message: "\(path) has no prompt named \(missing.joined(separator: ", "))")
            ])
        }
        return prompts
    }

    // MARK: - Sessions

    func begin(_ seed: Seed, runSeed: UInt64) -> Dialogue {
        var d = Dialogue(seed: seed)
        let x = seed.extra
        let meta = x["meta"]?.objectValue ?? [:]
        d.meta["category"] = .string(x["category"]?.stringValue ?? meta["category"]?.stringValue ?? "general")
        if case .array(let refs)? = x["reference"] ?? meta["reference"] { d.meta["reference"] = .array(refs) }
        func invalid(_ why: String) -> Dialogue {
            return Runner.invalidSeed(seed, reason: "seeds line \(seed.line): \(why)")
        }
        switch settings.mode {
        case .pairwise:
            guard let a = Self.conversation(x["a"]), let b = Self.conversation(x["b"]) else {
                return invalid("pairwise sessions need \"a\" and \"b\" conversations")
            }
            guard a.filter({ $0.speaker == .user }).map(\.content) == b.filter({ $0.speaker == .user }).map(\.content)
            else {
                return invalid("a and b do not have the same user turns")
            }
            d.messages = a
            d.meta["b_answers"] = .array(b.filter { $0.speaker == .assistant }.map { .string($0.content) })
            d.meta["models"] = .array(
                [Self.model(x["a"]), Self.model(x["b"])].map { $0.map(JSONValue.string) ?? .null })
        case .single:
            if let given = Self.conversation(.object(x)) {
                d.messages = given
                if let m = Self.model(.object(x)) { d.meta["model"] = .string(m) }
            } else if Self.questions(of: seed) != nil {
                guard candidate != nil else {
                    return invalid("the session has no answers and there is no candidate role")
                }
                d.meta["model"] = (candidate?.config.model).map(JSONValue.string) ?? .null
            } else {
                return invalid("expected \"turns\" (a list of user messages) or a conversation")
            }
        }
        return d
    }

    /// A session's user turns, when it is a question set row.
    static func questions(of seed: Seed) -> [String]? {
        guard case .array(let items)? = seed.extra["turns"], !items.isEmpty else { return nil }
        let turns = items.compactMap(\.stringValue)
        return turns.count == items.count ? turns : nil
    }

    /// A conversation in the sharegpt or messages shape (system messages left out), or nil.
    static func conversation(_ value: JSONValue?) -> [Message]? {
        guard case .object(let o)? = value, let shape = DatasetShape.detect(o),
            shape == .sharegpt || shape == .messages,
            let messages = shape.messages(of: o)?.filter({ $0.speaker != .system }), !messages.isEmpty
        else { return nil }
        return messages
    }

    static func model(_ value: JSONValue?) -> String? {
        guard case .object(let o)? = value else { return nil }
        return o["model"]?.stringValue ?? o["meta"]?.objectValue?["model"]?.stringValue
    }

    /// A dataset row's `meta.judgments`, when the dialogue has been judged.
    func rowMeta(_ d: Dialogue, into w: inout JSONWriter) throws {
        let judgments = d.records(Judgment.self)
        guard !judgments.isEmpty else { return }
        w.key("judgments")
        try w.encode(judgments)
    }

    // MARK: - The loop

    nonisolated(nonsending) func run(_ d: inout Dialogue, record: Recorder) async throws -> EndReason {
        let questions = Self.questions(of: d.seed)
        let total = questions?.count ?? d.messages.filter { $0.speaker == .user }.count
        let category = d.meta["category"]?.stringValue ?? "general"
        var cache = TurnStep.Memo()
        while true {
            try Task.checkCancellation()
            let answered = d.turns
            // Eval's records are its judgments, one per answered turn.
            if d.records.count < answered {
                try record.add(try await judgeTurn(d.records.count + 1, of: d), to: &d)
                continue
            }
            guard let questions, let candidate, answered < total else {
                // The model that answered, as its server named it, when the config did not say.
                if d.meta["model"] == nil || d.meta["model"] == .null,
                    let model = d.messages.first(where: { $0.speaker == .assistant })?.meta?.model
                {
                    d.meta["model"] = .string(model)
                }
                return .maxTurns
            }
            if d.messages.last?.speaker == .user {
                switch try await step.run(
                    candidate, writing: .assistant, in: d, cache: &cache, temperature: settings.temperatures[category])
                {
                case .contextExhausted(let detail):
                    d.meta["context_exhausted"] = .string(detail)
                    return .contextExhausted
                case .message(let m):
                    try record.message(m, d.messages.count)
                    d.messages.append(m)
                }
            } else {
                let q = Message(.user, questions[answered])
                try record.message(q, d.messages.count)
                d.messages.append(q)
            }
        }
    }

    // MARK: - Judging

    nonisolated(nonsending) func judgeTurn(_ turn: Int, of d: Dialogue) async throws -> Judgment {
        let upTo = Self.exchanges(d.messages, through: turn)
        let total = Self.questions(of: d.seed)?.count ?? d.messages.filter { $0.speaker == .user }.count
        var j = Judgment(turn: turn)
        func fill(_ template: String) -> String {
            template.replacing("{turn}", with: String(turn)).replacing("{turns}", with: String(total))
        }
        let references: [String] =
            if case .array(let refs)? = d.meta["reference"] { refs.map { $0.stringValue ?? "" } } else { [] }
        let reference = turn <= references.count && !references[turn - 1].isEmpty ? references[turn - 1] : nil
        /// The reference-guided variant: the turn's reference answer (math, reasoning, coding) first.
        func withReference(_ instruction: String) -> String {
            guard let reference else { return instruction }
            return settings.prompts.reference.replacing("{reference}", with: reference) + "\n\n"
                + instruction
        }
        /// The judge's prompt for conversations shown in this order, with a re-ask note.
        func prompt(_ conversations: [[Message]], labels: [String?], instruction: String) -> Prompt {
            guard let fastChat else {
                return { note in
                    try await judgePrompt(conversations, labels: labels, instruction: instruction + note)
                }
            }
            let name = FastChatPrompts.name(pairwise: conversations.count == 2, reference: reference != nil, turn: turn)
            guard let chosen = fastChat.prompts[name] else {  // checked when the recipe was made
                return { _ in throw GenerationFailure(reason: "no judge prompt named \(name)", attempts: 0) }
            }
            let (system, user) = fastChat.render(
                chosen, turn: turn,
                questions: upTo.filter { $0.speaker == .user }.map(\.content),
                answers: conversations.map { $0.filter { $0.speaker == .assistant }.map(\.content) },
                references: references)
            return { note in try await fittedPrompt(system: system, body: user + note) }
        }
        switch settings.mode {
        case .single:
            let judging = prompt([upTo], labels: [nil], instruction: withReference(fill(settings.prompts.single)))
            for sample in 0..<settings.judgeSamples {
                if let score = try await ask(
                    judging, d, &j, sample: sample, schema: StructuredVerdict.ratingSchema,
                    structured: StructuredVerdict.rating, read: VerdictParser.rating)
                {
                    j.samples.append(score)
                }
            }
            if !j.samples.isEmpty { j.score = j.samples.reduce(0, +) / Double(j.samples.count) }
        case .pairwise:
            let b = Self.withAnswers(upTo, d.meta["b_answers"])
            let instruction = withReference(fill(settings.prompts.pairwise))
            // Each order once: A's conversation shown first, then B's.
            for (order, shown) in [(upTo, b), (b, upTo)].enumerated() {
                let judging = prompt([shown.0, shown.1], labels: ["A", "B"], instruction: instruction)
                let p = try await ask(
                    judging, d, &j, sample: order, schema: StructuredVerdict.preferenceSchema,
                    structured: StructuredVerdict.preference, read: VerdictParser.preference)
                let swapped: (VerdictParser.Preference) -> String = {
                    $0 == .tie ? "tie" : (($0 == .a) == (order == 0) ? "a" : "b")
                }
                j.orders.append(p.map(swapped) ?? "unparsed")
            }
            if !j.orders.contains("unparsed") {
                j.verdict =
                    j.orders[0] == j.orders[1] ? j.orders[0] : (settings.inconsistentAsTie ? "tie" : "inconsistent")
            }
        }
        return j
    }

    /// The judge's prompt, given the note to add when asking again ("" the first time).
    typealias Prompt = (String) async throws -> PromptInput

    /// Asks the judge (again, with the re-ask note, while its answer cannot be read). With
    /// `eval.structured` the request carries `schema` and the reply is read as JSON first.
    private func ask<T>(
        _ makePrompt: Prompt, _ d: Dialogue, _ j: inout Judgment, sample: Int, schema: JSONValue,
        structured: (String) -> T?, read: (String) -> T?
    ) async throws -> T? {
        let params = settings.structured ? judge.asking(for: schema).config.params : judge.config.params
        var note = ""
        for attempt in 0...settings.reask {
            let prompt = try await makePrompt(note)
            var seed = StableHash()
            seed.combine(runSeed)
            seed.combine(d.id)
            seed.combine(j.turn)
            seed.combine("judge")
            seed.combine(sample)
            seed.combine(attempt)
            let request = GenerationRequest(
                dialogueID: d.id, messageIndex: j.turn, role: judge.name, prompt: prompt, model: judge.config.model,
                maxTokens: judge.config.maxTokens, temperature: judge.config.temperature,
                topP: judge.config.topP,
                stop: judge.config.endpoint == .completion
                    ? judge.prompts.template.stops(generating: .assistant) : judge.config.stop,
                seed: seed.value, params: params)
            let (result, _) = try await judge.endpoint.generate(request)
            if j.requests == 0 { j.seed = Int(seed.value & 0x7FFF_FFFF) }
            j.requests += 1
            j.raw.append(result.text)
            j.model = j.model ?? result.model ?? judge.config.model
            j.promptTokens += result.promptTokens ?? 0
            j.completionTokens += result.completionTokens ?? 0
            if settings.structured, let verdict = structured(result.text) {
                j.structured = j.structured ?? true
                return verdict
            }
            if let verdict = read(result.text) {
                if settings.structured { j.structured = false }
                return verdict
            }
            note = "\n\n" + settings.prompts.reask
        }
        return nil
    }

    /// The judge's request: the conversation(s) as transcripts, then the instruction; the
    /// oldest exchanges are left out until it fits the judge's context.
    nonisolated(nonsending) func judgePrompt(_ conversations: [[Message]], labels: [String?], instruction: String)
        async throws -> PromptInput
    {
        let counter = judge.endpoint.tokenCounter
        let budget = judge.prompts.budget - 16 - (try await counter.count(settings.prompts.system))
        var drop = 0
        let exchanges = conversations.first.map { $0.filter { $0.speaker == .user }.count } ?? 0
        while true {
            let body =
                zip(conversations, labels).map { conversation, label in
                    let kept = Self.exchanges(conversation, from: drop + 1)
                    let head = label.map { "Conversation with assistant \($0):\n" } ?? ""
                    return head + (drop > 0 ? "[\(drop) earlier exchange\(drop == 1 ? "" : "s") left out]\n\n" : "")
                        + kept.map(View.transcriptLine).joined()
                }.joined(separator: "\n") + instruction
            let prompt: PromptInput =
                judge.config.endpoint == .chat
                ? .chat([ChatMessage(.system, settings.prompts.system), ChatMessage(.user, body)])
                : .text(
                    judge.prompts.template.render(
                        system: settings.prompts.system, messages: [Message(.user, body)], next: .assistant))
            let cost: Int
            switch prompt {
            case .chat: cost = try await counter.count(body)
            case .text(let t): cost = try await counter.count(t)
            }
            if cost <= budget { return prompt }
            guard drop + 1 < exchanges else {
                throw GenerationFailure(
                    reason:
                        "the judge prompt needs \(cost) tokens, \(budget) available even with only the last exchange",
                    attempts: 0)
            }
            drop += 1
        }
    }

    /// A FastChat prompt as the judge's endpoint takes it; it is sent whole, as FastChat does, or
    /// fails when it does not fit the judge's context.
    nonisolated(nonsending) func fittedPrompt(system: String, body: String) async throws -> PromptInput {
        let prompt: PromptInput =
            judge.config.endpoint == .chat
            ? .chat([ChatMessage(.system, system), ChatMessage(.user, body)])
            : .text(judge.prompts.template.render(system: system, messages: [Message(.user, body)], next: .assistant))
        let counter = judge.endpoint.tokenCounter
        let cost: Int
        switch prompt {
        case .chat: cost = try await counter.count(system) + counter.count(body) + 16
        case .text(let t): cost = try await counter.count(t)
        }
        guard cost <= judge.prompts.budget else {
            throw GenerationFailure(
                reason: "the judge prompt needs \(cost) tokens, \(judge.prompts.budget) available", attempts: 0)
        }
        return prompt
    }

    /// The messages of exchanges `from`…`through` (1-based; an exchange starts at a user message).
    static func exchanges(_ messages: [Message], from first: Int = 1, through last: Int = .max) -> [Message] {
        var n = 0
        return messages.filter { m in
            if m.speaker == .user { n += 1 }
            return n >= first && n <= last
        }
    }

    /// `messages` with the assistant answers replaced, in order, by `answers`.
    static func withAnswers(_ messages: [Message], _ answers: JSONValue?) -> [Message] {
        guard case .array(let list)? = answers else { return messages }
        var k = 0
        return messages.map { m in
            guard m.speaker == .assistant else { return m }
            defer { k += 1 }
            return Message(.assistant, k < list.count ? list[k].stringValue ?? "" : "")
        }
    }
}
