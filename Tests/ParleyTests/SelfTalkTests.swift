import XCTest

@testable import Parley

/// Self-talk: the manager's choices steer the agent, ROUGE-L depth on hand-made
/// dialogues, and each run-level filter.
final class SelfTalkTests: XCTestCase {
    let workflow = """
        {"name": "w", "start": "a",
         "nodes": {"a": "Hello, how can I help you today?", "b": "Please give me your order number.",
                   "c": "What is the reason for the return?", "d": "Your refund is on its way."},
         "edges": [{"from": "a", "to": "b", "answer": "wants to return an item"},
                   {"from": "b", "to": "c", "answer": "gives an order number"},
                   {"from": "c", "to": "d", "answer": "gives a reason"}]}
        """

    func wf() throws -> Workflow { try Workflow.parse(try JSONValue.parse(workflow), at: "w") }

    func testDepthByRougeL() throws {
        let w = try wf()
        XCTAssertEqual(w.longestPath, 4)
        // Reaches a (exact), b (paraphrase sharing most words), not c; d only below the threshold.
        let p = WorkflowProgress(
            workflow: w,
            agentUtterances: [
                "Hello, how can I help you today?", "Sure, please give me your order number first.",
                "Thanks! The weather is nice.", "A refund.",
            ], ended: true)
        XCTAssertEqual(p.reached, ["a", "b"])
        XCTAssertEqual(p.depth, 2)
        XCTAssertEqual(p.relativeDepth, 0.5)
        // "A refund." vs "Your refund is on its way.": LCS 1 of 2 and 6 words:
        // F = 2·(1/2·1/6)/(1/2+1/6) = 0.25 < 0.33.
        XCTAssertEqual(Similarity.rougeL("Your refund is on its way.", "A refund."), 0.25, accuracy: 1e-12)
        let lower = WorkflowProgress(workflow: w, agentUtterances: ["A refund."], ended: false, threshold: 0.2)
        XCTAssertEqual(lower.reached, ["d"])
    }

    func testNameStops() {
        XCTAssertEqual(SelfTalkRecipe.nameStops("Maria, a retired teacher who is polite"), ["\nMaria:"])
        XCTAssertEqual(SelfTalkRecipe.nameStops("Mary Ann Lee, a nurse"), ["\nMary Ann Lee:"])
        XCTAssertEqual(SelfTalkRecipe.nameStops("a friendly agent"), [])
        XCTAssertEqual(SelfTalkRecipe.nameStops("The Customer Service Team Lead, who"), [], "more than three words")
        XCTAssertEqual(SelfTalkRecipe.nameStops(nil), [])
    }

    func testBadWorkflowsNameThePlace() {
        XCTAssertThrowsError(
            try Workflow.parse(
                try JSONValue.parse(
                    #"{"start": "x", "nodes": {"a": "Hi"}, "edges": [{"from": "a", "to": "z", "answer": "?"}]}"#),
                at: "wf")
        ) {
            XCTAssertEqual(Set(($0 as? ConfigError)?.issues.map(\.path) ?? []), ["wf.edges[0].to", "wf.start"])
        }
    }

    func testUnknownWorkflowKeysAreNamedWithASuggestion() {
        let text =
            #"{"start": "a", "nodes": {"a": "Hi"}, "edge": [], "edges": [{"from": "a", "to": "a", "answr": "?"}]}"#
        XCTAssertThrowsError(try Workflow.parse(try JSONValue.parse(text), at: "wf")) {
            let issues = ($0 as? ConfigError)?.issues.map(\.description) ?? []
            XCTAssertEqual(
                issues,
                [
                    "wf.edges[0]: expected {from, to, answer}",
                    "wf.edges[0].answr: unknown key (did you mean \"answer\"?)",
                    "wf.edge: unknown key (did you mean \"edges\"?)",
                ])
        }
    }

    /// The manager picks by a rule; the agent says the step it is told; the client says what the test scripts.
    final class Models: Backend, @unchecked Sendable {
        let agentSystems = Locked<[String]>([])
        let stops = Locked<[String: [String]]>([:])
        let params = Locked<[String: [String: JSONValue]]>([:])
        let manager: @Sendable (String) -> String
        init(manager: @escaping @Sendable (String) -> String) { self.manager = manager }
        var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
        func generate(_ r: GenerationRequest) async throws -> GenerationResult {
            guard case .chat(let m) = r.prompt else { return GenerationResult(text: "") }
            stops.withLock { $0[r.role] = r.stop }
            params.withLock { $0[r.role] = r.params }
            switch r.role {
            case "manager": return GenerationResult(text: manager(m.last!.content))
            case "stage":
                return GenerationResult(
                    text: m.last!.content.contains("Client message 3") ? "End." : "Middle, I think.")
            case "agent":
                let system = m.first!.content
                agentSystems.withLock { $0.append(system) }
                // Say the step verbatim when told one.
                if let q = system.range(of: "say, in your own words: \"") {
                    return GenerationResult(text: String(system[q.upperBound...].dropLast()))
                }
                return GenerationResult(text: "Let us get back to your request.")
            default:  // s6 never says goodbye
                return GenerationResult(
                    text: r.messageIndex > 6 && r.dialogueID != "s6"
                        ? "Thanks, goodbye!" : "Client message \(r.messageIndex) from \(r.dialogueID).")
            }
        }
    }

    func config(_ dir: String, filters: String = "{}", stage: Bool = false, structured: Bool = false) throws -> Config {
        try workflow.write(toFile: dir + "/wf.json", atomically: true, encoding: .utf8)
        let stageRole = stage ? #", "stage": {"backend": "m", "max_tokens": 4}"# : ""
        return try Config.parse(
            """
            {"recipe": "selftalk", "backends": {"m": {"type": "scripted"}},
             "roles": {"client": {"backend": "m"}, "agent": {"backend": "m"},
                       "manager": {"backend": "m", "max_tokens": 4}\(stageRole)},
             "selftalk": {"workflows": "\(dir)/wf.json", "personas": ["Ann"],
                          "intentions": ["you want to return shoes"],
                          "characters": ["Sam"], "max_turns": 6, "filters": \(filters), "structured": \(structured)}}
            """)
    }

    func testTheManagersChoicesSteerTheAgent() async throws {
        let dir = tempDir()
        // Match the first offered answer, except "none of the above" whenever at node b (steps 3 and 4).
        let models = Models { q in q.contains("gives an order number") ? "2" : "1" }
        let (summary, out) = try await runSynth(try config(dir), seeds: [#"{"id": "x"}"#], backends: ["m": models])
        XCTAssertEqual(summary.stats.endReasons, ["closed": 1])
        let systems = models.agentSystems.withLock { $0 }
        let prompts = SelfTalkPrompts()
        func told(_ step: String) -> String { prompts.next.replacingOccurrences(of: "{step}", with: step) }
        XCTAssertTrue(systems[0].hasSuffix(told("Hello, how can I help you today?")))
        XCTAssertTrue(systems[1].hasSuffix(told("Please give me your order number.")))
        XCTAssertTrue(systems[2].hasSuffix(prompts.offScript), "none of the above: reply naturally")
        XCTAssertTrue(systems[0].hasPrefix("You are Sam, an agent"))
        let stops = models.stops.withLock { $0 }
        XCTAssertTrue(stops["client"]?.contains("\nSam:") == true, "the client stops at the agent's name")
        XCTAssertTrue(stops["agent"]?.contains("\nAnn:") == true, "the agent stops at the client's name")
        let row = try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first)
        XCTAssertEqual(conversation(row).last?.1, "Thanks, goodbye!", "the client's goodbye stays in the dialogue")
        XCTAssertEqual(conversation(row).first?.0, "gpt", "the agent opens")
        let meta = try XCTUnwrap((row["meta"] as? [String: Any])?["selftalk"] as? [String: Any])
        XCTAssertEqual(meta["nodes_reached"] as? [String], ["a", "b"])
        XCTAssertEqual(meta["depth"] as? Int, 2)
        XCTAssertEqual(meta["ended"] as? Bool, true)
        XCTAssertEqual(
            (meta["steps"] as? [[String: Any]])?.map { $0["choice"] as? String ?? "\($0["choice"]!)" },
            ["start", "1", "none", "none"])
    }

    func testStructuredManagerAnswersAreAskedForReadAndCounted() async throws {
        // JSON at node a; at node b a plain "2" (none of the above), as a server without structured output answers.
        let models = Models { q in q.contains("gives an order number") ? "2" : #" {"choice": 1}"# }
        let (summary, out) = try await runSynth(
            try config(tempDir(), structured: true), seeds: [#"{"id": "x"}"#], backends: ["m": models])
        let sent = models.params.withLock { $0 }
        let choice = StructuredOutput.object([("choice", ["type": "integer", "minimum": 1, "maximum": 2])])
        let format: JSONValue = ["type": "json_schema", "json_schema": ["name": "verdict", "schema": choice]]
        XCTAssertEqual(sent["manager"], ["response_format": format])
        XCTAssertNil(sent["agent"]?["response_format"], "only the manager and the stage role are constrained")
        let row = try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first)
        let meta = try XCTUnwrap((row["meta"] as? [String: Any])?["selftalk"] as? [String: Any])
        let steps = try XCTUnwrap(meta["steps"] as? [[String: Any]])
        XCTAssertEqual(steps.map { "\($0["choice"]!)" }, ["start", "1", "none", "none"])
        XCTAssertEqual(steps.map { $0["structured"] as? Bool }, [nil, true, false, false])
        guard case .object(let s)? = summary.extra["selftalk"] else { return XCTFail("no selftalk summary") }
        XCTAssertEqual(s["manager_answers"], ["structured": 1, "text": 2])

        // The stage role is asked under its schema too; its text answers ("End.") are still read.
        let staged = Models { _ in "1" }
        let (closed, _) = try await runSynth(
            try config(tempDir(), stage: true, structured: true), seeds: [#"{"id": "x"}"#], backends: ["m": staged])
        let stageSchema = StructuredOutput.object([("stage", ["type": "string", "enum": ["start", "middle", "end"]])])
        XCTAssertEqual(
            staged.params.withLock { $0["stage"] },
            ["response_format": ["type": "json_schema", "json_schema": ["name": "verdict", "schema": stageSchema]]])
        XCTAssertEqual(closed.stats.endReasons, ["closed": 1])
    }

    func testRunLevelFilters() async throws {
        // Six dialogues; the manager follows the workflow in three of them (s1–s3), and reads
        // nothing in the others ("9" is no option): those reach only the start node.
        let dir = tempDir()
        let models = Models { q in ["s1", "s2", "s3"].contains { q.contains("from \($0).") } ? "1" : "9" }
        let seeds = (1...6).map { #"{"id": "s\#($0)"}"# }
        let (all, _) = try await runSynth(try config(dir), seeds: seeds, backends: ["m": models])
        guard case .object(let s)? = all.extra["selftalk"] else { return XCTFail("no selftalk summary") }
        XCTAssertEqual(s["dialogues"], .number(6))
        XCTAssertEqual(s["selected"], .number(6))

        // s1–s3 reach all 4 nodes and end; s4, s5 reach the start only; s6 also never ends.
        let (filtered, out) = try await runSynth(
            try config(dir, filters: #"{"top_percent": 50, "min_subgoals": 2, "ended_only": true}"#),
            seeds: seeds, backends: ["m": models])
        guard case .object(let t)? = filtered.extra["selftalk"], case .object(let removed)? = t["removed_by"] else {
            return XCTFail("summary")
        }
        XCTAssertEqual(t["depths"], .object(["4": .number(3), "1": .number(3)]))
        XCTAssertEqual(removed["ended_only"], .number(1))
        XCTAssertEqual(removed["min_subgoals"], .number(2))
        XCTAssertEqual(removed["top_percent"], .number(1), "the top 50% of 3 is 2 (rounded up)")
        XCTAssertEqual(t["selected"], .number(2))
        XCTAssertEqual(
            try readJSONL(out + "/selftalk_selected.jsonl").map { $0["id"] as? String }, ["s1", "s2"],
            "deepest first, then by id")
    }

    func testAStageJudgeCanEndTheConversation() async throws {
        let models = Models { _ in "1" }
        let (summary, out) = try await runSynth(
            try config(tempDir(), stage: true), seeds: [#"{"id": "x"}"#], backends: ["m": models])
        XCTAssertEqual(summary.stats.endReasons, ["closed": 1])
        XCTAssertEqual(summary.stats.records["stage"], 2, "asked after each client turn until it said end")
        let row = try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first)
        XCTAssertEqual(conversation(row).last?.1, "Client message 3 from x.")
        XCTAssertEqual(((row["meta"] as? [String: Any])?["selftalk"] as? [String: Any])?["ended"] as? Bool, true)
    }
}
