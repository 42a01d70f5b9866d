import XCTest

@testable import Parley

/// Judge prompts in FastChat's `judge_prompts.jsonl` format: the choice per turn, the two-turn
/// layout extended to any turn, references, and a whole evaluation judged with them. The prompt
/// texts here are the tests' own, laid out as FastChat's are.
final class FastChatPromptsTests: XCTestCase {
    static let conversation = """
        <|The Start of Assistant A's Conversation with User|>

        ### User:
        {question_1}

        ### Assistant A:
        {answer_1}

        ### User:
        {question_2}

        ### Assistant A:
        {answer_2}

        <|The End of Assistant A's Conversation with User|>
        """
    static let reference = """
        <|The Start of Reference Answer|>

        ### User:
        {question_1}

        ### Reference answer:
        {ref_answer_1}

        ### User:
        {question_2}

        ### Reference answer:
        {ref_answer_2}

        <|The End of Reference Answer|>


        """
    static let lines: [[String: String]] = [
        ["name": "single-v1", "system_prompt": "Judge one answer.", "prompt_template": "Q: {question}\nA: {answer}"],
        [
            "name": "single-math-v1", "system_prompt": "Judge against the reference.",
            "prompt_template": "Q: {question}\nRef: {ref_answer_1}\nA: {answer}",
        ],
        [
            "name": "single-v1-multi-turn", "system_prompt": "Judge the answer to the second user question.",
            "prompt_template": conversation,
        ],
        [
            "name": "single-math-v1-multi-turn", "system_prompt": "Judge the second user question's answer.",
            "prompt_template": reference + conversation,
        ],
    ]

    func promptsFile() throws -> String {
        let path = tempDir() + "/judge_prompts.jsonl"
        let text = try Self.lines.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
            .joined(separator: "\n")
        try (text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testTwoTurnsGiveTheTemplateAndLaterTurnsRepeatTheFirstTurnsBlocks() {
        XCTAssertEqual(FastChatPrompts.extend(Self.conversation, to: 2), Self.conversation)
        XCTAssertEqual(
            FastChatPrompts.extend(Self.reference + Self.conversation, to: 2), Self.reference + Self.conversation)
        XCTAssertEqual(
            FastChatPrompts.extend(Self.conversation, to: 3),
            """
            <|The Start of Assistant A's Conversation with User|>

            ### User:
            {question_1}

            ### Assistant A:
            {answer_1}

            ### User:
            {question_2}

            ### Assistant A:
            {answer_2}

            ### User:
            {question_3}

            ### Assistant A:
            {answer_3}

            <|The End of Assistant A's Conversation with User|>
            """)
        let extended = FastChatPrompts.extend(Self.reference + Self.conversation, to: 4)
        XCTAssertTrue(extended.contains("### User:\n{question_3}\n\n### Reference answer:\n{ref_answer_3}\n\n"))
        XCTAssertTrue(extended.contains("### Reference answer:\n{ref_answer_4}\n\n<|The End of Reference Answer|>"))
        XCTAssertTrue(extended.contains("### Assistant A:\n{answer_4}\n\n<|The End of Assistant A's Conversation"))
        XCTAssertEqual(extended.components(separatedBy: "{question_2}").count, 3, "once per block")
    }

    func testPromptChoiceAndOrdinals() {
        XCTAssertEqual(FastChatPrompts.name(pairwise: false, reference: false, turn: 1), "single-v1")
        XCTAssertEqual(FastChatPrompts.name(pairwise: false, reference: true, turn: 3), "single-math-v1-multi-turn")
        XCTAssertEqual(FastChatPrompts.name(pairwise: true, reference: false, turn: 2), "pair-v2-multi-turn")
        XCTAssertEqual(FastChatPrompts.name(pairwise: true, reference: true, turn: 1), "pair-math-v1")
        XCTAssertEqual(FastChatPrompts.ordinal(3), "third")
        XCTAssertEqual(FastChatPrompts.ordinal(12), "12th")
        XCTAssertEqual(FastChatPrompts.ordinal(22), "22nd")
        XCTAssertEqual(FastChatPrompts.fill("{a} {b} {x}{", ["a": "{b}", "b": "2"]), "{b} 2 {x}{")
    }

    /// Records each judge request's system prompt and message; rates 8.
    final class Models: Backend, @unchecked Sendable {
        let judged = Locked<[(system: String, user: String)]>([])
        var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
        func generate(_ r: GenerationRequest) async throws -> GenerationResult {
            guard case .chat(let m) = r.prompt, let last = m.last?.content else { return GenerationResult(text: "") }
            guard r.role == "judge" else {
                // "Question 3?" → "Answer 3."
                let answer = last.replacingOccurrences(of: "Question ", with: "Answer ")
                return GenerationResult(text: answer.replacingOccurrences(of: "?", with: "."))
            }
            guard m.count == 2 else { return GenerationResult(text: "") }
            judged.withLock { $0.append((m[0].content, m[1].content)) }
            return GenerationResult(text: "Sound reasoning. Rating: [[8]]")
        }
    }

    func config(_ prompts: String) throws -> Config {
        try Config.parse(
            """
            {"recipe": "eval", "backends": {"m": {"type": "scripted"}},
             "roles": {"candidate": {"backend": "m"}, "judge": {"backend": "m", "max_tokens": 32}},
             "eval": {"judge_prompts": "\(prompts)"}}
            """)
    }

    func testAnEightTurnSessionJudgedTurnByTurn() async throws {
        let turns = (1...8).map { "\"Question \($0)?\"" }.joined(separator: ", ")
        let references = (1...8).map { "\"Ref \($0)\"" }.joined(separator: ", ")
        let models = Models()
        let (summary, out) = try await runSynth(
            try config(try promptsFile()),
            seeds: [
                #"{"id": "w", "turns": [\#(turns)]}"#,
                #"{"id": "m", "category": "math", "turns": [\#(turns)], "reference": [\#(references)]}"#,
            ], backends: ["m": models])
        XCTAssertEqual(summary.stats.judgedTurns, 16)
        XCTAssertEqual(summary.stats.unscoredTurns, 0)
        let judged = models.judged.withLock { $0 }
        XCTAssertTrue(judged.contains { $0 == ("Judge one answer.", "Q: Question 1?\nA: Answer 1.") })
        XCTAssertTrue(
            judged.contains { $0 == ("Judge against the reference.", "Q: Question 1?\nRef: Ref 1\nA: Answer 1.") })
        // Session "w" (no references), turn 3.
        let third = try XCTUnwrap(
            judged.first {
                $0.user.contains("Question 3?") && !$0.user.contains("Question 4?") && !$0.user.contains("Ref")
            })
        XCTAssertEqual(third.system, "Judge the answer to the third user question.")
        XCTAssertEqual(
            third.user,
            """
            <|The Start of Assistant A's Conversation with User|>

            ### User:
            Question 1?

            ### Assistant A:
            Answer 1.

            ### User:
            Question 2?

            ### Assistant A:
            Answer 2.

            ### User:
            Question 3?

            ### Assistant A:
            Answer 3.

            <|The End of Assistant A's Conversation with User|>
            """)
        let eighth = try XCTUnwrap(judged.first { $0.user.contains("Ref 8") })
        XCTAssertTrue(eighth.user.hasPrefix("<|The Start of Reference Answer|>\n\n### User:\nQuestion 1?\n\n"))
        XCTAssertEqual(eighth.user.components(separatedBy: "### Assistant A:").count, 9)
        let rows = try readJSONL(out + "/dialogues.jsonl")
        for row in rows {
            let judgments = try XCTUnwrap((row["meta"] as? [String: Any])?["judgments"] as? [[String: Any]])
            XCTAssertEqual(judgments.map { $0["score"] as? Double }, Array(repeating: 8, count: 8))
        }
    }

    func testMTBenchsTwoTurnQuestionsAreJudgedWithTheTemplateAsIs() async throws {
        let models = Models()
        let (summary, _) = try await runSynth(
            try config(try promptsFile()),
            seeds: [#"{"question_id": 81, "category": "writing", "turns": ["Question 1?", "Question 2?"]}"#],
            backends: ["m": models])
        XCTAssertEqual(summary.stats.judgedTurns, 2)
        let second = try XCTUnwrap(models.judged.withLock { $0 }.last)
        XCTAssertEqual(second.system, "Judge the answer to the second user question.")
        XCTAssertEqual(
            second.user,
            FastChatPrompts.fill(
                Self.conversation,
                [
                    "question_1": "Question 1?", "answer_1": "Answer 1.", "question_2": "Question 2?",
                    "answer_2": "Answer 2.",
                ]
            ))
    }

    func testAFileWithoutTheModesPromptsIsRefused() async throws {
        let path = tempDir() + "/partial.jsonl"
        try #"{"name": "single-v1", "system_prompt": "S", "prompt_template": "{question}"}"#.write(
            toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try await runSynth(try config(path), seeds: [#"{"turns": ["Hi?"]}"#])
            XCTFail("a file without the mode's prompts is refused")
        } catch {
            let issue = (error as? ConfigError)?.issues.first
            XCTAssertEqual(issue?.path, "eval.judge_prompts")
            XCTAssertTrue(issue?.message.contains("no prompt named single-v1-multi-turn, single-math-v1,") == true)
        }
    }
}
