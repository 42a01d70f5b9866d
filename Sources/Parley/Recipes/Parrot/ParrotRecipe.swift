import FoundationEssentials

/// Parrot / PlatoLM synthesis: the asker (a user simulator) and the assistant alternate
/// until the dialogue has its planned number of exchanges or a stop condition ends it.
struct ParrotRecipe: RecipeKind {
    static let name = "parrot"
    static let systemRole: String? = "assistant"
    static let roles = [
        RoleDeclaration("asker", playsUser: true),
        RoleDeclaration("assistant"),
        // `roles.assistant.expert`: writes the assistant's expert identity.
        RoleDeclaration("expert_writer", required: false),
    ]
    /// `roles.assistant.expert`: the expert identity, and what cleaning cut from answers.
    static let records: (any RecipeRecord.Type)? = ExpertRecord.self

    let asker: Role
    let assistant: Role
    let turns: Config.TurnPlan
    let step: TurnStep
    let personas: [String]
    let styles: [String]
    /// `roles.assistant.expert`: the assistant answers as an expert written from the first question.
    let expert: ExpertWriter?

    init(engine: Engine) throws(ConfigError) {
        // Config.parse checks this; a config built in code may not have.
        guard let asker = engine.roles["asker"], let assistant = engine.roles["assistant"] else {
            throw ConfigError(issues: [
                ConfigIssue(path: "roles", message: "the parrot recipe needs roles asker and assistant")
            ])
        }
        self.asker = asker
        self.assistant = assistant
        turns = engine.config.turns
        step = TurnStep(runSeed: engine.config.run.seed)
        personas = engine.personas
        styles = engine.styles
        if assistant.config.expert {
            guard let expert = ExpertWriter(engine: engine) else {
                throw ConfigError(issues: [
                    ConfigIssue(
                        path: "roles.expert_writer",
                        message: "missing: roles.assistant.expert needs an expert_writer role")
                ])
            }
            self.expert = expert
        } else {
            expert = nil
        }
    }

    /// The seed's first messages and the dialogue's turn plan.
    func begin(_ seed: Seed, runSeed: UInt64) -> Dialogue {
        var messages: [Message] = []
        if let q = seed.question { messages.append(Message(.user, q)) }
        if let a = seed.answer { messages.append(Message(.assistant, a)) }
        var d = Dialogue(seed: seed, messages: messages)
        var rng = SplitMix64(seed: StableHash.of("max_turns", String(runSeed), seed.id))
        d.meta["max_turns"] = .number(Double(Int.random(in: turns.max, using: &rng)))
        if let p = Recipes.pick(personas, "persona", runSeed, seed.id) { d.meta["persona"] = .string(p) }
        if let s = Recipes.pick(styles, "style", runSeed, seed.id) { d.meta["style"] = .string(s) }
        return d
    }

    /// Runs the dialogue from wherever it stands; `record` journals each new message
    /// before the dialogue goes on. Returns why it ended.
    nonisolated(nonsending) func run(_ d: inout Dialogue, record: Recorder) async throws -> EndReason {
        let maxTurns =
            d.meta["max_turns"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } ?? turns.max.upperBound
        var cache = TurnStep.Memo()
        // For the repeat check, one hash per message; room for the turns up front (up to 64), so that it does not
        // grow: a set that grew from one key rehashed its keys at each doubling (benchmarks/callgrind).
        var said = Set<OwnKey>(minimumCapacity: min(2 * maxTurns + 2, 64))
        for i in d.messages.indices { said.insert(Self.repeatKey(d.messages[i])) }
        // The assistant under the dialogue's expert identity, made at its first answer: a role made per turn
        // counted its prompt's fixed costs and made its stop lists again each time.
        var expertAssistant: Role?
        while true {
            try Task.checkCancellation()
            let writing: Speaker = d.messages.last?.speaker == .user ? .assistant : .user
            if writing == .user && d.turns >= maxTurns { return .maxTurns }
            var role = writing == .assistant ? assistant : asker
            if writing == .assistant, let made = expertAssistant {
                role = made
            } else if writing == .assistant, let expert,
                let question = d.messages.first(where: { $0.speaker == .user })
            {
                let made = assistant.with(
                    system: try await expert.identity(of: &d, from: question.content, record: record))
                expertAssistant = made
                role = made
            }
            switch try await step.run(role, writing: writing, in: d, cache: &cache) {
            case .contextExhausted(let detail):
                d.meta["context_exhausted"] = .string(detail)
                if writing == .user, role.config.onFull == .end,
                    !d.messages.contains(where: { $0.meta?.role == role.name })
                {
                    // PlatoLM skips a seed whose first round alone leaves its simulator no room.
                    d.filtering.append(
                        FilterDecision(
                            filter: "on_full", turn: d.turns + 1, action: .drop,
                            detail: "the seed leaves roles.\(role.name) no room to write: \(detail)"))
                }
                return .contextExhausted
            case .message(var m):
                if writing == .user, let marker = turns.endMarker, let r = m.content.firstRange(of: marker) {
                    // The asker ended the dialogue; text before the marker is not a full question.
                    m.content = String(m.content[..<r.lowerBound])
                    return .askerEnded
                }
                if writing == .assistant, let expert {
                    m = try expert.cleaned(m, turn: d.turns + 1, in: &d, record: record)
                }
                let key = Self.repeatKey(m)
                if let why = Self.degeneracy(of: m, key: key, said: said, repeats: turns.stopOnRepeat) {
                    d.meta["degenerate"] = .string(why)
                    return .degenerate
                }
                try record.message(m, d.messages.count)
                said.insert(key)
                d.messages.append(m)
                if writing == .assistant, Recipes.closes(d.messages.suffix(2), keywords: turns.closingKeywords) {
                    return .closed
                }
            }
        }
    }

    /// Why a new message would make the dialogue degenerate: empty, or the same words
    /// (ignoring case, spacing and punctuation) as an earlier message of its speaker.
    /// - Parameter key: `repeatKey(m)`, computed once by the caller (it is a scan of the text).
    static func degeneracy(of m: Message, key: OwnKey, said: Set<OwnKey>, repeats: Bool = true) -> String? {
        if m.content.isEmpty { return "empty \(m.speaker.rawValue) turn" }
        if repeats && said.contains(key) { return "repeated \(m.speaker.rawValue) turn" }
        return nil
    }

    static func repeatKey(_ m: Message) -> OwnKey {
        var h = StableHash()
        h.combine(m.speaker.rawValue)
        h.combine(Words.normalizedKey(m.content))
        return OwnKey(h.value)
    }
}
