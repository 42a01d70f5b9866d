import XCTest

@testable import Parley

/// The model-based statistics with in-process models: the judge's strict reading, its
/// tallies (unparsed answers counted, failures counted and never turned into figures),
/// and exact token counts. (The real servers: Tests/e2e/test_local_model.py.)
final class ModelMeasuresTests: XCTestCase {
    struct WordCounter: TokenCounter {
        func count(_ text: String) -> Int { Words.count(text) }
    }

    /// A judge that answers from a script keyed by what it is asked, and records the prompts.
    final class ScriptedJudge: Backend, @unchecked Sendable {
        let prompts = Locked<[String]>([])
        let answer: @Sendable (String) -> String
        init(_ answer: @escaping @Sendable (String) -> String) { self.answer = answer }
        var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
        func generate(_ r: GenerationRequest) async throws -> GenerationResult {
            guard case .chat(let messages) = r.prompt, let text = messages.last?.content else {
                throw BackendError("chat only", retryable: false)
            }
            prompts.withLock { $0.append(text) }
            XCTAssertEqual(r.temperature, 0)
            let reply = answer(text)
            if reply == "FAIL" { throw BackendError("judge down", retryable: false) }
            return GenerationResult(text: reply, finishReason: "stop")
        }
    }

    func judge(_ backend: ScriptedJudge) -> Judge {
        var role = RoleConfig(name: "judge")
        role.temperature = 0
        role.maxTokens = 8
        return Judge(
            endpoint: ModelEndpoint(
                name: "judge", backend: backend, settings: BackendCommon(maxConcurrency: 4, maxRetries: 0)), role: role)
    }

    let dialogue = [
        Message(.system, "S"), Message(.user, "What is a tide?"), Message(.assistant, "A rise of the sea."),
        Message(.user, "Why?"), Message(.assistant, "The moon."), Message(.user, "Name three rivers."),
    ]

    func testStrictReading() {
        XCTAssertEqual(Judge.read("No.", yes: "no", no: "yes"), true)
        XCTAssertEqual(Judge.read("  yes, it can", yes: "no", no: "yes"), false)
        XCTAssertEqual(Judge.read("AI", yes: "human", no: "ai"), false)
        XCTAssertEqual(Judge.read("Human.", yes: "human", no: "ai"), true)
        XCTAssertNil(Judge.read("I think it was a human", yes: "human", no: "ai"))
        XCTAssertNil(Judge.read("", yes: "human", no: "ai"))
    }

    func testJudgedTalliesCountUnparsedAndFailedAnswers() async throws {
        let backend = ScriptedJudge { prompt in
            if prompt.hasPrefix(Judge.humanQuestion) {
                return prompt.hasSuffix("Why?") ? "Human" : prompt.hasSuffix("Name three rivers.") ? "maybe" : "AI"
            }
            // Context questions: "Why?" needs the history; the rivers question fails.
            return prompt.hasSuffix("Next message: Why?") ? "No" : "FAIL"
        }
        let figures = await ModelMeasures(tokenizer: WordCounter(), judge: judge(backend)).measure([
            DatasetRow(messages: dialogue)
        ])
        XCTAssertEqual(figures.humanLike, ModelMeasures.Tally(yes: 1, judged: 2, unparsed: 0))
        XCTAssertEqual(figures.contextDependent, ModelMeasures.Tally(yes: 1, judged: 1, unparsed: 0))
        XCTAssertEqual(figures.failures, ["judge": 1])
        XCTAssertTrue(figures.firstFailure?.contains("judge down") ?? false)
        // The context question shows the conversation before the turn, never after it.
        let context = backend.prompts.withLock { $0 }.first { $0.hasSuffix("Next message: Why?") }
        XCTAssertEqual(
            context,
            Judge.contextQuestion
                + "\n\nConversation:\nUser: What is a tide?\n\nAssistant: A rise of the sea.\n\nNext message: Why?")
        // Tokens: user turns 4, 1, 3; assistant 5, 2; the dialogue 15 (system left out).
        XCTAssertEqual(figures.userTokens.sum, 8)
        XCTAssertEqual(figures.assistantTokens.sum, 7)
        XCTAssertEqual(figures.dialogueTokens.counts, [15: 1])
    }

    func testTopicShiftsJudgedOnRequest() async {
        let backend = ScriptedJudge { prompt in
            guard prompt.hasPrefix(Judge.topicQuestion) else { return "No" }
            return prompt.hasSuffix("Name three rivers.") ? "Yes." : prompt.hasSuffix("Why?") ? "no" : "?"
        }
        var measures = ModelMeasures(judge: judge(backend))
        let without = await measures.measure([DatasetRow(messages: dialogue)])
        XCTAssertFalse(without.measured.contains("topic_judge"))
        XCTAssertFalse(backend.prompts.withLock { $0 }.contains { $0.hasPrefix(Judge.topicQuestion) }, "not asked")
        measures.judgeTopicShifts = true
        let figures = await measures.measure([DatasetRow(messages: dialogue)])
        XCTAssertEqual(figures.topicShifts, ModelMeasures.Tally(yes: 1, judged: 2, unparsed: 0))
        let asked = backend.prompts.withLock { $0 }.first {
            $0.hasPrefix(Judge.topicQuestion) && $0.hasSuffix("rivers.")
        }
        XCTAssertEqual(
            asked,
            Judge.topicQuestion + "\n\nConversation:\nUser: What is a tide?\n\nAssistant: A rise of the sea.\n\n"
                + "User: Why?\n\nAssistant: The moon.\n\nNext message: Name three rivers.")
    }

    func testOnlyGeneratedUserTurnsAreJudged() async {
        let backend = ScriptedJudge { prompt in prompt.hasPrefix(Judge.humanQuestion) ? "Human" : "No" }
        // The system message, the seed's question and its answer came from the seed.
        let figures = await ModelMeasures(judge: judge(backend)).measure([
            DatasetRow(messages: dialogue, seedMessages: 3)
        ])
        XCTAssertEqual(figures.humanLike, ModelMeasures.Tally(yes: 2, judged: 2, unparsed: 0))
        XCTAssertEqual(figures.contextDependent, ModelMeasures.Tally(yes: 2, judged: 2, unparsed: 0))
        XCTAssertFalse(backend.prompts.withLock { $0 }.contains { $0.hasSuffix("What is a tide?") }, "the seed's turn")
    }

    func testTheContextJudgeSeesTheWholeHistoryThatFitsItsContext() async throws {
        let backend = ScriptedJudge { _ in "No" }
        let long = (1...40).flatMap { [Message(.user, "Question \($0)?"), Message(.assistant, "Answer \($0).")] }
        let roomy = judge(backend)
        _ = try await roomy.needsHistory("And the first?", after: long)
        let whole = try XCTUnwrap(backend.prompts.withLock { $0 }.last)
        XCTAssertTrue(
            whole.contains("User: Question 1?\n") && whole.contains("Assistant: Answer 40."), "all 80 messages")

        var small = RoleConfig(name: "judge")
        small.temperature = 0
        small.maxTokens = 8
        small.maxContext = 300
        let tight = Judge(endpoint: roomy.endpoint, role: small)
        _ = try await tight.needsHistory("And the first?", after: long)
        let cut = try XCTUnwrap(backend.prompts.withLock { $0 }.last)
        XCTAssertFalse(cut.contains("User: Question 1?\n"), "the oldest messages left out")
        XCTAssertTrue(cut.contains("Assistant: Answer 40.\n\nNext message: And the first?"), "the newest kept")
        let tokens = EstimatingTokenCounter().estimate(cut)
        XCTAssertLessThanOrEqual(tokens, 300 - 8, "within the judge's context")
    }

    func testUnparsedJudgmentsAreCountedNotGuessed() async {
        let backend = ScriptedJudge { _ in "It depends." }
        let figures = await ModelMeasures(judge: judge(backend)).measure([DatasetRow(messages: dialogue)])
        XCTAssertEqual(figures.humanLike, ModelMeasures.Tally(yes: 0, judged: 0, unparsed: 3))
        XCTAssertNil(figures.humanLike.share)
        XCTAssertEqual(figures.contextDependent.unparsed, 2)
    }

    func testQuestionSimilarityAveragesTheWholeMatrix() {
        // cos: each with itself 1; [1,0]·[0,1] 0; each with [1,1] 1/√2 → (3 + 2·(0 + 2/√2)) / 9.
        let mean = ModelMeasures.meanSimilarityMatrix([[1, 0], [0, 1], [1, 1]])
        XCTAssertEqual(mean, (3 + 2 * 2.0.squareRoot()) / 9, accuracy: 1e-12)
    }
}
