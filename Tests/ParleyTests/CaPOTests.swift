import XCTest

@testable import Parley

/// CaPO: which turns are selected, the exact prompts of each strategy, pairs in TRL's
/// conversational preference shape, near-identical pairs dropped, judge confirmation.
final class CaPOTests: XCTestCase {
    /// Records every request; answers by a rule.
    final class Model: Backend, @unchecked Sendable {
        let prompts = Locked<[PromptInput]>([])
        let reply: @Sendable (GenerationRequest) -> String
        init(_ reply: @escaping @Sendable (GenerationRequest) -> String) { self.reply = reply }
        var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
        func generate(_ r: GenerationRequest) async throws -> GenerationResult {
            prompts.withLock { $0.append(r.prompt) }
            return GenerationResult(text: reply(r), finishReason: "stop", promptTokens: 5, completionTokens: 2)
        }
    }

    let dialogue =
        #"{"id": "d1", "messages": [{"role": "user", "content": "Recommend a novel about Mars."}, {"role": "#
        + #""assistant", "content": "Try The Martian by Andy Weir."}, {"role": "user", "content": "What is the "#
        + #"capital of Peru?"}, {"role": "assistant", "content": "Lima."}, {"role": "user", "content": "Is it "#
        + #"long?"}, {"role": "assistant", "content": "About 380 pages."}]}"#

    func config(_ capo: String = "{}", judge: Bool = false) throws -> Config {
        let judgeRole = judge ? #", "judge": {"backend": "m", "max_tokens": 8}"# : ""
        return try Config.parse(
            """
            {"recipe": "capo", "backends": {"m": {"type": "scripted", "max_retries": 0}},
             "roles": {"assistant": {"backend": "m", "system_prompt": "Be brief.", "max_tokens": 64}\(judgeRole)},
             "capo": \(capo)}
            """)
    }

    func testSelectionAndTheExactPromptOfEachStrategy() async throws {
        let model = Model { r in
            guard case .chat(let m) = r.prompt else { return "" }
            if m.last!.content.hasPrefix("Below is the latest message") { return "Is Lima a long city?" }
            return "Rejected for \(r.dialogueID)."
        }
        let (summary, out) = try await runSynth(try config(), seeds: [dialogue], backends: ["m": model])
        XCTAssertEqual(summary.stats.records, ["select": 1, "pair": 3])
        XCTAssertEqual(summary.stats.completionTokens, 4 * 2, "guess + 3 answers")

        let prompts = model.prompts.withLock { $0 }
        let guess = CaPOPrompts().guess.replacingOccurrences(of: "{message}", with: "Is it long?")
        XCTAssertEqual(
            Set(prompts.map { "\($0)" }),
            Set(
                [
                    // neglect: the turn alone
                    PromptInput.chat([ChatMessage(.system, "Be brief."), ChatMessage(.user, "Is it long?")]),
                    // hallucination: the guess, then an answer to it
                    .chat([ChatMessage(.system, "Be brief."), ChatMessage(.user, guess)]),
                    .chat([ChatMessage(.system, "Be brief."), ChatMessage(.user, "Is Lima a long city?")]),
                    // misunderstanding: an earlier exchange that is not the previous one, as the referent
                    .chat([
                        ChatMessage(.system, "Be brief. " + CaPOPrompts().misunderstanding),
                        ChatMessage(.user, "Recommend a novel about Mars."),
                        ChatMessage(.assistant, "Try The Martian by Andy Weir."),
                        ChatMessage(.user, "Is it long?"),
                    ]),
                ].map { "\($0)" }))

        let pairs = try readJSONL(out + "/pairs.jsonl")
        XCTAssertEqual(pairs.map { $0["strategy"] as? String }, ["neglect", "hallucination", "misunderstanding"])
        for p in pairs {
            XCTAssertEqual(p["dialogue_id"] as? String, "d1")
            XCTAssertEqual(p["turn"] as? Int, 3)
            let prompt = try XCTUnwrap(p["prompt"] as? [[String: String]])
            XCTAssertEqual(prompt.count, 5, "the dialogue up to and including the user turn")
            XCTAssertEqual(prompt.last, ["role": "user", "content": "Is it long?"])
            XCTAssertEqual(p["chosen"] as? [[String: String]], [["role": "assistant", "content": "About 380 pages."]])
            XCTAssertEqual((p["rejected"] as? [[String: String]])?.first?["role"], "assistant")
        }
        XCTAssertEqual(pairs[1]["guess"] as? String, "Is Lima a long city?")
        XCTAssertEqual((pairs[2]["referent"] as? [String: Any])?["turn"] as? Int, 1)
        XCTAssertTrue(pairs[0]["guess"] is NSNull)
    }

    func testNearIdenticalRejectionsAreDroppedAndRecorded() async throws {
        let copycat = Model { _ in "About 380 pages." }
        let (summary, out) = try await runSynth(
            try config(#"{"strategies": ["neglect"]}"#), seeds: [dialogue], backends: ["m": copycat])
        XCTAssertEqual(summary.stats.records, ["select": 1, "pair": 1, "pair_dropped": 1])
        XCTAssertEqual(try readJSONL(out + "/pairs.jsonl").count, 0)
        let capo = try XCTUnwrap(
            ((try readJSONL(out + "/dialogues.jsonl").first)?["meta"] as? [String: Any])?["capo"] as? [[String: Any]])
        XCTAssertEqual(capo.last?["dropped"] as? String, "near-identical to the chosen answer (ROUGE-L 1.0)")
    }

    func testTheJudgeConfirmsOrRejectsSelections() async throws {
        let judge = Model { r in r.role == "judge" ? "Yes, it can." : "Something else." }
        let (summary, _) = try await runSynth(
            try config(#"{"confirm_with_judge": true}"#, judge: true), seeds: [dialogue], backends: ["m": judge])
        XCTAssertEqual(summary.stats.records, ["select": 1, "select_rejected": 1], "understandable alone: no pairs")
    }

    func testOnlyContextDependentFollowUpsAreCandidates() {
        let m = [
            Message(.user, "Recommend a novel."), Message(.assistant, "Dune."), Message(.user, "Why?"),
            Message(.assistant, "It is good."),
            Message(.user, "Explain photosynthesis in plants for a student."), Message(.assistant, "…"),
            Message(.user, "And then?"),
        ]
        XCTAssertEqual(CaPORecipe.candidates(m).map(\.turn), [2], "the last turn has no reply")
    }
}
