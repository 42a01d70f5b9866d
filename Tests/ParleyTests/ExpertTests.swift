import XCTest

@testable import Parley

/// ExpertPrompting: the exact identity prompt, the identity as system prompt or prefix,
/// echo cleaning, and the parrot option (one identity per dialogue, every turn).
final class ExpertTests: XCTestCase {
    final class Model: Backend, @unchecked Sendable {
        let requests = Locked<[GenerationRequest]>([])
        var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
        func generate(_ r: GenerationRequest) async throws -> GenerationResult {
            requests.withLock { $0.append(r) }
            switch r.role {
            case "expert_writer": return GenerationResult(text: "You are a pastry chef with 15 years in Lyon.")
            case "asker": return GenerationResult(text: "And what about \(r.messageIndex)?")
            default:
                return GenerationResult(
                    text: "As a pastry chef with 15 years in Lyon, I would say: use cold butter (\(r.messageIndex)).")
            }
        }
    }

    func config(_ recipe: String, _ extra: String = "") throws -> Config {
        let expertFlag = recipe == "parrot" ? #", "expert": true"# : ""
        return try Config.parse(
            """
            {"recipe": "\(recipe)", "backends": {"m": {"type": "scripted"}},
             "roles": {"expert_writer": {"backend": "m", "max_tokens": 64},
                       "assistant": {"backend": "m", "system_prompt": "Be helpful.", "max_tokens": 64\(expertFlag)},
                       "asker": {"backend": "m", "endpoint": "completion", "max_tokens": 16}},
             "turns": {"max": 3}\(extra)}
            """)
    }

    func testIdentityPromptAnswerAsTheExpertAndCleaning() async throws {
        let model = Model()
        let (summary, out) = try await runSynth(
            try config("expert"), seeds: [#"{"id": "i1", "instruction": "How do I make flaky pastry?"}"#],
            backends: ["m": model])
        XCTAssertEqual(summary.stats.finished, 1)
        let requests = model.requests.withLock { $0 }
        let writer = try XCTUnwrap(requests.first { $0.role == "expert_writer" })
        let examples = ExpertSettings.defaultExamples.map {
            "Instruction: \($0.instruction)\nExpert: \($0.description)"
        }.joined(separator: "\n\n")
        XCTAssertEqual(
            writer.prompt,
            .chat([
                ChatMessage(
                    .user,
                    ExpertSettings().writerInstruction + "\n\n" + examples
                        + "\n\nInstruction: How do I make flaky pastry?\nExpert:")
            ]))
        // The paper's layout: identity, the answer instruction, the instruction, in one user message.
        let answer = try XCTUnwrap(requests.first { $0.role == "assistant" })
        XCTAssertEqual(
            answer.prompt,
            .chat([
                ChatMessage(.system, "Be helpful."),
                ChatMessage(
                    .user,
                    "You are a pastry chef with 15 years in Lyon.\n\nNow given the above identity background, please "
                        + "answer the following instruction.\n\nHow do I make flaky pastry?"),
            ]))
        let row = try XCTUnwrap(try readJSONL(out + "/expert.jsonl").first)
        XCTAssertEqual(row["instruction"] as? String, "How do I make flaky pastry?")
        XCTAssertEqual(row["expert_identity"] as? String, "You are a pastry chef with 15 years in Lyon.")
        XCTAssertEqual(row["answer"] as? String, "I would say: use cold butter (1).")
        XCTAssertEqual(row["cleaned"] as? String, "As a pastry chef with 15 years in Lyon,")
    }

    func testSystemPlacementAndOwnAnswerInstruction() async throws {
        let model = Model()
        _ = try await runSynth(
            try config("expert", #", "expert": {"placement": "system", "clean": false}"#),
            seeds: [#"{"question": "How do I make flaky pastry?"}"#], backends: ["m": model])
        let answer = try XCTUnwrap(model.requests.withLock { $0 }.first { $0.role == "assistant" })
        XCTAssertEqual(
            answer.prompt,
            .chat([
                ChatMessage(.system, "You are a pastry chef with 15 years in Lyon."),
                ChatMessage(.user, "How do I make flaky pastry?"),
            ]))
        let own = Model()
        _ = try await runSynth(
            try config("expert", #", "expert": {"answer_instruction": "Answer as this expert:"}"#),
            seeds: [#"{"question": "Why?"}"#], backends: ["m": own])
        let prefixed = try XCTUnwrap(own.requests.withLock { $0 }.first { $0.role == "assistant" })
        XCTAssertEqual(
            prefixed.prompt,
            .chat([
                ChatMessage(.system, "Be helpful."),
                ChatMessage(.user, "You are a pastry chef with 15 years in Lyon.\n\nAnswer as this expert:\n\nWhy?"),
            ]))
    }

    func testDefaultExamplesAreAsDetailedAsThePapers() {
        XCTAssertEqual(ExpertSettings.defaultExamples.count, 3)
        for e in ExpertSettings.defaultExamples {
            let words = e.description.split { $0.isWhitespace }.count
            XCTAssertTrue((110...150).contains(words), "\(words) words: \(e.instruction)")
            XCTAssertTrue(e.description.hasPrefix("You are "), "second person")
        }
    }

    func testEchoCleaning() {
        XCTAssertEqual(ExpertEcho.clean("As an experienced nurse, I recommend rest.").text, "I recommend rest.")
        XCTAssertEqual(ExpertEcho.clean("As an AI: no.").removed, "As an AI:")
        XCTAssertNil(ExpertEcho.clean("Rest is best, as a rule.").removed)
        XCTAssertNil(ExpertEcho.clean("As a rule of thumb rest helps").removed, "no comma: left alone")
    }

    func testParrotOptionWritesOneIdentityForEveryTurn() async throws {
        let model = Model()
        let (summary, out) = try await runSynth(
            try config("parrot"), seeds: [#"{"question": "How do I make flaky pastry?"}"#], backends: ["m": model])
        let requests = model.requests.withLock { $0 }
        XCTAssertEqual(requests.filter { $0.role == "expert_writer" }.count, 1)
        XCTAssertEqual(summary.stats.records["identity"], 1, "the identity is a record of the parrot run")
        let answers = requests.filter { $0.role == "assistant" }
        XCTAssertEqual(answers.count, 3)
        for a in answers {
            guard case .chat(let m) = a.prompt else { return XCTFail("chat") }
            XCTAssertEqual(m.first, ChatMessage(.system, "You are a pastry chef with 15 years in Lyon."))
        }
        let row = try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first)
        XCTAssertEqual(
            (row["meta"] as? [String: Any])?["expert_identity"] as? String,
            "You are a pastry chef with 15 years in Lyon.")
        XCTAssertTrue(conversation(row).filter { $0.0 == "gpt" }.allSatisfy { $0.1.hasPrefix("I would say") })
    }

    func testTooFewExamplesAreRefused() {
        XCTAssertThrowsError(
            try config("expert", #", "expert": {"examples": [{"instruction": "a", "description": "b"}]}"#)
        ) {
            XCTAssertEqual(($0 as? ConfigError)?.issues.map(\.path), ["expert.examples"])
        }
    }
}
