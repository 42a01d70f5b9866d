import FoundationEssentials

/// Self-talk (Ulmer et al. 2024): a `client` (a persona with an intention) and an `agent`
/// (a character following a workflow graph) talk; before each agent turn the `manager`
/// says which expected answer the client's last reply matches, and the agent is told
/// the next step (or to reply naturally). Ends at `max_turns` or on a closing word. Each
/// dialogue is scored by the workflow nodes its agent reached; the run's filters apply
/// at its end (`selftalk_selected.jsonl`).
struct SelfTalkRecipe: RecipeKind {
    static let name = "selftalk"
    static let roles = [
        RoleDeclaration("client", playsUser: true, defaults: Self.sampling),
        RoleDeclaration("agent", defaults: Self.sampling),
        RoleDeclaration("manager"),
        // Asks whether the conversation is at its end.
        RoleDeclaration("stage", required: false),
    ]
    static let settings: (any RecipeSettings.Type)? = SelfTalkSettings.self
    static let allOutputFiles = [selectedFile]
    static let records: (any RecipeRecord.Type)? = SelfTalkRecord.self

    /// Self-talk's sampling for the client and the agent.
    @Sendable static func sampling(_ role: inout RoleConfig) {
        role.maxTokens = 100
        role.temperature = 0.8
        role.topP = 0.95
    }

    static let selectedFile = "selftalk_selected.jsonl"
    let client: Role, agent: Role, manager: Role
    /// Optional: asked after each client turn whether the conversation is at its start, middle or end.
    let stage: Role?
    let workflows: [Workflow]
    let personas: [String], intentions: [String], characters: [String]
    let settings: SelfTalkSettings
    let step: TurnStep
    let runSeed: UInt64

    init(engine: Engine) throws(ConfigError) {
        guard let client = engine.roles["client"], let agent = engine.roles["agent"],
            let manager = engine.roles["manager"]
        else {
            throw ConfigError(issues: [
                ConfigIssue(path: "roles", message: "the selftalk recipe needs roles client, agent and manager")
            ])
        }
        settings = engine.config.selftalk
        guard let data = FileManager.default.contents(atPath: settings.workflows),
            let root = try? JSONValue.parse(String(decoding: data, as: UTF8.self))
        else {
            throw ConfigError(issues: [
                ConfigIssue(
                    path: "selftalk.workflows", message: "cannot read a JSON workflow file at \"\(settings.workflows)\""
                )
            ])
        }
        var workflows: [Workflow] = []
        if case .array(let list) = root {
            for (i, w) in list.enumerated() { workflows.append(try Workflow.parse(w, at: "selftalk.workflows[\(i)]")) }
        } else {
            workflows = [try Workflow.parse(root, at: "selftalk.workflows")]
        }
        guard !workflows.isEmpty else {
            throw ConfigError(issues: [ConfigIssue(path: "selftalk.workflows", message: "no workflow in the file")])
        }
        self.workflows = workflows
        personas = try settings.personas?.load(key: "selftalk.personas") ?? ["a customer"]
        intentions = try settings.intentions?.load(key: "selftalk.intentions") ?? ["you need help"]
        characters = try settings.characters?.load(key: "selftalk.characters") ?? ["a friendly agent"]
        self.client = client.with(stops: ["\nAgent:", "\nAssistant:"])
        self.agent = agent.with(stops: ["\nCustomer:", "\nClient:", "\nUser:"])
        self.manager = manager
        stage = engine.roles["stage"]
        runSeed = engine.config.run.seed
        step = TurnStep(runSeed: runSeed)
    }

    /// `["\n<name>:"]` for a persona or character line that opens with a name ("Maria, a retired
    /// teacher…", "Sam"): up to three capitalised words before a comma or the end; else none.
    static func nameStops(_ line: String?) -> [String] {
        let head = line?.split(separator: ",", maxSplits: 1).first.map { $0.trimmingWhitespace() }
        guard let head, case let words = head.split(separator: " "), (1...3).contains(words.count),
            words.allSatisfy({ $0.first?.isUppercase == true })
        else { return [] }
        return ["\n\(head):"]
    }

    /// The client's goodbye is part of a finished conversation.
    var endsOnAnswer: Bool { false }

    func begin(_ seed: Seed, runSeed: UInt64) -> Dialogue {
        var d = Dialogue(seed: seed)
        let named = seed.extra["workflow"]?.stringValue
        guard
            let workflow = named.map({ n in workflows.first { $0.name == n } })
                ?? Recipes.pick(workflows, "workflow", runSeed, seed.id)
        else {
            return Runner.invalidSeed(seed, reason: "seeds line \(seed.line): no workflow named \"\(named ?? "")\"")
        }
        d.meta["workflow"] = .string(workflow.name)
        for (key, list) in [("persona", personas), ("intention", intentions), ("character", characters)] {
            d.meta[key] = Recipes.pick(list, key, runSeed, seed.id).map(JSONValue.string) ?? .null
        }
        return d
    }

    func workflow(of d: Dialogue) -> Workflow {
        workflows.first { $0.name == d.meta["workflow"]?.stringValue } ?? workflows[0]
    }

    nonisolated(nonsending) func run(_ d: inout Dialogue, record: Recorder) async throws -> EndReason {
        let wf = workflow(of: d)
        func fill(_ s: String) -> String {
            var s = s
            for key in ["persona", "intention", "character"] {
                s = s.replacing("{\(key)}", with: d.meta[key]?.stringValue ?? "")
            }
            return s
        }
        var steps = d.records(SelfTalkRecord.self).compactMap(\.stepValue)
        // "None of the above" keeps the node.
        var node = steps.last { $0.node != nil }?.node
        var agentCache = TurnStep.Memo()
        var clientCache = TurnStep.Memo()
        // Each stops where it starts writing the other character's line, as Self-talk's generation does.
        let agent = self.agent.with(stops: Self.nameStops(d.meta["persona"]?.stringValue))
        let client = self.client.with(stops: Self.nameStops(d.meta["character"]?.stringValue))
        let opening = Message(.user, "[The customer joins the chat.]")
        let reason: EndReason
        while true {
            try Task.checkCancellation()
            if d.messages.count >= 2, Recipes.closes(d.messages.suffix(2), keywords: settings.closingKeywords) {
                reason = .closed
                break
            }
            if stage != nil, d.messages.last?.speaker == .user, try await atItsEnd(&d, record: record) {
                reason = .closed
                break
            }
            if d.messages.last?.speaker != .assistant {
                // The agent's turn: where in the workflow, then what to say.
                let agentTurns = d.messages.filter { $0.speaker == .assistant }.count
                if agentTurns >= settings.maxTurns {
                    reason = .maxTurns
                    break
                }
                if steps.count == agentTurns {  // else a resume: the step was journaled, the message not yet
                    let s = try await nextStep(wf, from: node, after: d, turn: steps.count + 1)
                    try record.add(SelfTalkRecord.step(s), to: &d)
                    steps.append(s)
                    if let next = s.node { node = next }
                }
                let guidance =
                    steps.last?.node.flatMap { wf.nodes[$0] }
                    .map { settings.prompts.next.replacing("{step}", with: $0) }
                    ?? settings.prompts.offScript
                var view = d
                view.messages = [opening] + d.messages
                let role = agent.with(system: fill(settings.prompts.agent) + "\n\n" + guidance)
                guard case .message(let m) = try await step.run(role, writing: .assistant, in: view, cache: &agentCache)
                else {
                    reason = .contextExhausted
                    break
                }
                try record.message(m, d.messages.count)
                d.messages.append(m)
            } else {
                let role = client.with(system: fill(settings.prompts.client))
                guard case .message(let m) = try await step.run(role, writing: .user, in: d, cache: &clientCache) else {
                    reason = .contextExhausted
                    break
                }
                if m.content.isEmpty {
                    reason = .degenerate
                    break
                }
                try record.message(m, d.messages.count)
                d.messages.append(m)
            }
        }
        let progress = WorkflowProgress(
            workflow: wf, agentUtterances: d.messages.filter { $0.speaker == .assistant }.map(\.content),
            ended: reason == .closed, threshold: settings.reachThreshold)
        d.meta["selftalk"] = .object([
            "nodes_reached": .array(progress.reached.map(JSONValue.string)), "depth": .number(Double(progress.depth)),
            "relative_depth": .number(progress.relativeDepth), "ended": .bool(progress.ended),
            "longest_path": .number(Double(wf.longestPath)),
            "steps": .array(try steps.map { try JSONValue(encoding: SelfTalkRecord.step($0)) }),
        ])
        return reason
    }

    /// Whether the `stage` role says the conversation has reached its end (asked once per
    /// client turn, journaled; an answer other than start/middle/end counts as not the end).
    nonisolated(nonsending) func atItsEnd(_ d: inout Dialogue, record: Recorder) async throws -> Bool {
        guard let stage else { return false }
        let clientTurns = d.messages.filter { $0.speaker == .user }.count
        var stages = d.records(SelfTalkRecord.self).compactMap(\.stageValue)
        if stages.count < clientTurns {
            let recent = d.messages.suffix(4).map { ($0.speaker == .user ? "Customer: " : "Agent: ") + $0.content }
                .joined(separator: "\n")
            let words = ["start", "middle", "end"]
            let stageField: JSONValue = ["type": "string", "enum": .array(words.map(JSONValue.string))]
            let schema = StructuredOutput.object([("stage", stageField)])
            let m = try await step.answer(
                settings.structured ? stage.asking(for: schema) : stage,
                to: [Message(.user, settings.prompts.stage + "\n\n" + recent)],
                id: "\(d.id)#stage#\(clientTurns)", line: d.seed.line)
            var s = SelfTalkRecord.Stage(turn: clientTurns, raw: m.content)
            if settings.structured, case .string(let said)? = StructuredOutput.field("stage", of: m.content),
                words.contains(said)
            {
                s.stage = said
                s.structured = true
            } else {
                let word = m.content.lowercased().split(whereSeparator: { !$0.isLetter }).first.map(String.init)
                s.stage = word.flatMap { words.contains($0) ? $0 : nil }
                if settings.structured { s.structured = false }
            }
            try record.add(SelfTalkRecord.stage(s), to: &d)
            stages.append(s)
        }
        return stages.last?.stage == "end"
    }

    /// The workflow node the agent should say next: the start, or the target of the edge
    /// the manager matched to the client's last reply (nil: none matched).
    nonisolated(nonsending) func nextStep(_ wf: Workflow, from node: String?, after d: Dialogue, turn: Int) async throws
        -> SelfTalkRecord.Step
    {
        guard let node else { return SelfTalkRecord.Step(turn: turn, node: wf.start, choice: .start) }
        let edges = wf.edges(from: node)
        guard !edges.isEmpty, let reply = d.messages.last(where: { $0.speaker == .user })?.content else {
            return SelfTalkRecord.Step(turn: turn, choice: .noEdge)
        }
        let options =
            edges.enumerated().map { "\($0.offset + 1). \($0.element.answer)" } + [
                "\(edges.count + 1). none of the above"
            ]
        let question =
            settings.prompts.manager
            + "\n\nThe agent said: \(d.messages.last(where: { $0.speaker == .assistant })?.content ?? "")\n"
            + "The customer replied: \(reply)\n\n" + options.joined(separator: "\n")
            + "\n\nAnswer with the number only."
        let range: JSONValue = ["type": "integer", "minimum": 1, "maximum": .number(Double(options.count))]
        let schema = StructuredOutput.object([("choice", range)])
        let m = try await step.answer(
            settings.structured ? manager.asking(for: schema) : manager, to: [Message(.user, question)],
            id: "\(d.id)#manager#\(turn)", line: d.seed.line)
        var s = SelfTalkRecord.Step(turn: turn, choice: .unparsed, raw: m.content)
        var number: Int?
        if settings.structured, case .number(let n)? = StructuredOutput.field("choice", of: m.content),
            n == n.rounded(), (1...Double(options.count)).contains(n)
        {
            number = Int(n)
            s.structured = true
        } else {
            number = m.content.split(whereSeparator: { !$0.isNumber }).first.flatMap { Int($0) }
            if settings.structured { s.structured = false }
        }
        switch number {
        case let n? where n >= 1 && n <= edges.count:
            s.node = edges[n - 1].to
            s.choice = .edge(n)
        case let n? where n == edges.count + 1:
            s.choice = .noneOfTheAbove
        default:
            break
        }
        return s
    }

    /// A finished dialogue as the run-level filters see it.
    struct Scored {
        var id: String, depth: Int, relative: Double, ended: Bool
        /// The manager's answers read as the schema's JSON, and those read as text (`selftalk.structured`).
        var structuredSteps: Int, textSteps: Int
        var line: [UInt8]
    }

    func finishRun(dir: String) throws -> JSONValue? {
        try Self.finish(dir: dir, settings: settings)
    }

    /// The run's filters over all its dialogues (top p% needs them all): writes the
    /// selected ones and returns the depth distribution and the filter yield. A merge of
    /// shards runs it again over the merged dialogues.
    static func finish(dir: String, settings: SelfTalkSettings) throws -> JSONValue? {
        let reader = try DatasetReader(path: dir + "/" + DatasetWriter.dialoguesFile, shape: .sharegpt)
        var rows: [Scored] = []
        while let row = reader.nextObject() {
            guard let m = row["meta"]?.objectValue?["selftalk"]?.objectValue, case .number(let depth)? = m["depth"]
            else { continue }
            var relative = 0.0
            if case .number(let r)? = m["relative_depth"] { relative = r }
            let asked = (m["steps"]?.arrayValue ?? []).compactMap { $0.objectValue?["structured"] }
            rows.append(
                Scored(
                    id: row["id"]?.stringValue ?? "", depth: Int(depth), relative: relative,
                    ended: m["ended"] == .bool(true), structuredSteps: asked.filter { $0 == .bool(true) }.count,
                    textSteps: asked.filter { $0 == .bool(false) }.count,
                    line: Array(JSONValue.object(row).canonicalText.utf8) + [0x0A]))
        }
        var kept = rows
        var removed: [String: JSONValue] = [:]
        func apply(_ name: String, _ keep: (Int, Scored) -> Bool) {
            let before = kept.count
            kept = kept.enumerated().filter { keep($0.offset, $0.element) }.map(\.element)
            removed[name] = .number(Double(before - kept.count))
        }
        if settings.endedOnly { apply("ended_only") { $1.ended } }
        if let k = settings.minSubgoals { apply("min_subgoals") { $1.depth >= k } }
        if let p = settings.topPercent {
            kept.sort { $0.depth != $1.depth ? $0.depth > $1.depth : $0.id < $1.id }
            let n = Int((Double(kept.count) * p / 100).rounded(.up))
            apply("top_percent") { i, _ in i < n }
        }
        try Data(kept.flatMap(\.line)).write(to: URL(fileURLWithPath: dir + "/" + Self.selectedFile), options: .atomic)
        var depths: [String: Int] = [:]
        for r in rows { depths[String(r.depth), default: 0] += 1 }
        let count = Double(max(rows.count, 1))
        let meanDepth = Double(rows.reduce(0) { $0 + $1.depth }) / count
        let meanRelative = rows.reduce(0.0) { $0 + $1.relative } / count
        var summary: [String: JSONValue] = [
            "dialogues": .number(Double(rows.count)),
            "depths": .object(depths.mapValues { .number(Double($0)) }),
            "mean_depth": .number(meanDepth),
            "mean_relative_depth": .number(meanRelative),
            "ended": .number(Double(rows.filter(\.ended).count)),
            "removed_by": .object(removed),
            "selected": .number(Double(kept.count)),
            "yield": .number(rows.isEmpty ? 0 : Double(kept.count) / Double(rows.count)),
        ]
        if settings.structured {
            summary["manager_answers"] = [
                "structured": .number(Double(rows.reduce(0) { $0 + $1.structuredSteps })),
                "text": .number(Double(rows.reduce(0) { $0 + $1.textSteps })),
            ]
        }
        return .object(summary)
    }
}
