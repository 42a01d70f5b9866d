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
            if m.last!.content.hasPrefix("Below is a conversation") { return " \"the capital of Peru\"\n" }
            return "Rejected for \(r.dialogueID)."
        }
        let (summary, out) = try await runSynth(try config(), seeds: [dialogue], backends: ["m": model])
        XCTAssertEqual(summary.stats.records, ["select": 1, "pair": 3])
        XCTAssertEqual(summary.stats.completionTokens, 5 * 2, "guess + referent + 3 answers")

        let prompts = model.prompts.withLock { $0 }
        let guess = CaPOPrompts().guess.replacingOccurrences(of: "{message}", with: "Is it long?")
        let referent = CaPOPrompts().referent.replacingOccurrences(
            of: "{history}",
            with: "User: Recommend a novel about Mars.\n\nAssistant: Try The Martian by Andy Weir.\n\n"
                + "User: What is the capital of Peru?\n\nAssistant: Lima.\n\n"
        ).replacingOccurrences(of: "{message}", with: "Is it long?")
        let misreading = CaPOPrompts().misunderstanding.replacingOccurrences(
            of: "{referent}", with: "the capital of Peru")
        XCTAssertEqual(
            Set(prompts.map { "\($0)" }),
            Set(
                [
                    // neglect: the turn alone
                    PromptInput.chat([ChatMessage(.system, "Be brief."), ChatMessage(.user, "Is it long?")]),
                    // hallucination: the guess, then an answer to it
                    .chat([ChatMessage(.system, "Be brief."), ChatMessage(.user, guess)]),
                    .chat([ChatMessage(.system, "Be brief."), ChatMessage(.user, "Is Lima a long city?")]),
                    // misunderstanding: the model quotes a wrong referent from the whole history, then
                    // answers the turn, with the whole history, as if it referred to that
                    .chat([ChatMessage(.system, "Be brief."), ChatMessage(.user, referent)]),
                    .chat([
                        ChatMessage(.system, "Be brief. " + misreading),
                        ChatMessage(.user, "Recommend a novel about Mars."),
                        ChatMessage(.assistant, "Try The Martian by Andy Weir."),
                        ChatMessage(.user, "What is the capital of Peru?"),
                        ChatMessage(.assistant, "Lima."),
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
        let picked = try XCTUnwrap(pairs[2]["referent"] as? [String: Any])
        XCTAssertEqual(picked["text"] as? String, "the capital of Peru", "the model's quote, unquoted")
        XCTAssertEqual(picked["turn"] as? Int, 2, "the exchange that holds it")
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
        let (summary, _) = try await runSynth(try config(judge: true), seeds: [dialogue], backends: ["m": judge])
        XCTAssertEqual(
            summary.stats.records, ["select": 1, "select_rejected": 1],
            "a judge role confirms by default; understandable alone: no pairs")
        let unasked = Model { r in r.role == "judge" ? "Yes, it can." : "Something else." }
        let (kept, _) = try await runSynth(
            try config(#"{"confirm_with_judge": false, "strategies": ["neglect"]}"#, judge: true), seeds: [dialogue],
            backends: ["m": unasked])
        XCTAssertEqual(kept.stats.records, ["select": 1, "pair": 1], "confirmation turned off")
    }

    func testMisunderstandingAtTheSecondTurnAndAQuoteFoundNowhere() async throws {
        let twoTurns =
            #"{"id": "d2", "messages": [{"role": "user", "content": "Name a red fruit and a yellow one."}, "#
            + #"{"role": "assistant", "content": "A strawberry and a banana."}, {"role": "user", "content": "Is it "#
            + #"sweet?"}, {"role": "assistant", "content": "Yes, very."}]}"#
        for (quote, turn) in [("a banana", 1 as Int?), ("an apple", nil)] {
            let model = Model { r in
                guard case .chat(let m) = r.prompt else { return "" }
                return m.last!.content.hasPrefix("Below is a conversation") ? quote : "Bananas are mild."
            }
            let (summary, out) = try await runSynth(
                try config(#"{"strategies": ["misunderstanding"]}"#), seeds: [twoTurns], backends: ["m": model])
            XCTAssertEqual(summary.stats.records, ["select": 1, "pair": 1], "turn 2 qualifies")
            let pair = try XCTUnwrap(try readJSONL(out + "/pairs.jsonl").first)
            let referent = try XCTUnwrap(pair["referent"] as? [String: Any])
            XCTAssertEqual(referent["text"] as? String, quote)
            XCTAssertEqual(referent["turn"] as? Int, turn)
            XCTAssertEqual(referent["turn"] is NSNull, turn == nil)
        }
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
