import XCTest

@testable import Parley

/// The exact prompt each way of playing the user sends, for one small dialogue.
final class SimulatorModeTests: XCTestCase {
    let dialogue = [Message(.user, "How do I boil an egg?"), Message(.assistant, "Simmer it for 9 minutes.")]

    func prompt(
        _ role: RoleConfig, _ messages: [Message], topic: String? = nil, persona: String? = nil, style: String? = nil
    ) async throws -> PromptInput {
        let builder = PromptBuilder(
            role: role, template: Template.builtins[role.template]!, counter: EstimatingTokenCounter(), chatOverhead: 8)
        let view = View.of(messages, for: role, writing: .user, topic: topic, persona: persona, style: style)
        let outcome = try await builder.build(
            view, contentCounts: messages.map { Words.count($0.content) },
            exchangeStarts: messages.map { $0.speaker == .user })
        guard case .ready(let p, _, _, _) = outcome else {
            XCTFail("no prompt: \(outcome)")
            return .text("")
        }
        return p
    }

    func role(_ mode: RoleConfig.AskerMode, endpoint: RoleConfig.Endpoint = .chat, template: String = "human-assistant")
        -> RoleConfig
    {
        var r = RoleConfig(name: "asker")
        r.mode = mode
        r.endpoint = endpoint
        r.template = template
        return r
    }

    func testTrainedAskerContinuesTheUsersTurnOfTheTranscript() async throws {
        var r = role(.trained, endpoint: .completion, template: "socratic")
        r.systemPrompt = "A chat between a curious human and an AI assistant."
        let p = try await prompt(r, dialogue)
        XCTAssertEqual(
            p,
            .text(
                "A chat between a curious human and an AI assistant.\n\nHuman: <s>How do I boil an egg?</s>Assistant: "
                    + "<s>Simmer it for 9 minutes.</s>Human: <s>"
            ))
    }

    func testPromptedSimulatorReadsTheHistoryThenTheInstruction() async throws {
        let p = try await prompt(role(.prompted), dialogue)
        XCTAssertEqual(
            p,
            .chat([
                ChatMessage(
                    .user,
                    "User: How do I boil an egg?\n\nAssistant: Simmer it for 9 minutes.\n\n"
                        + RoleConfig.defaultInstruction)
            ]))
    }

    func testBaizeTranscriptPutsTheInstructionFirstAndEndsInTheHumansTag() async throws {
        var r = role(.prompted)
        r.transcript = .baize
        r.instruction = "Complete the transcript."
        let expected =
            "Complete the transcript.\n[|Human|] How do I boil an egg?\n[|AI|] Simmer it for 9 minutes.\n[|Human|]"
        let chat = try await prompt(r, dialogue)
        XCTAssertEqual(chat, .chat([ChatMessage(.user, expected)]))
        r.endpoint = .completion
        let completion = try await prompt(r, dialogue)
        XCTAssertEqual(completion, .text(expected), "the transcript is the completion prompt")
        let builder = PromptBuilder(
            role: r, template: .humanAssistant, counter: EstimatingTokenCounter(), chatOverhead: 8)
        let view = View.of(dialogue, for: r, writing: .user, topic: nil)
        XCTAssertEqual(builder.stops(view), ["\n[|Human|]", "\n[|AI|]", "[|AI|]"], "stops at the AI's tag")
        // The baize template has the data's spacing: a space after each tag (the model writes the last one).
        XCTAssertEqual(
            Template.baize.render(system: nil, messages: dialogue, next: .user),
            "[|Human|] How do I boil an egg?\n[|AI|] Simmer it for 9 minutes.\n[|Human|]")
    }

    func testTranscriptLabelsAreConfigured() throws {
        let config = try Config.parse(
            """
            {"backends": {"m": {"type": "scripted"}},
             "roles": {"asker": {"backend": "m", "transcript": {"user": "Q: ", "assistant": "A: ", "separator": "\\n",
                                                               "instruction": "before"}},
                       "assistant": {"backend": "m"}}}
            """)
        let asker = try XCTUnwrap(config.roles["asker"])
        XCTAssertEqual(
            asker.transcript, Transcript(user: "Q: ", assistant: "A: ", separator: "\n", instruction: .before))
        XCTAssertThrowsError(
            try Config.parse(
                """
                {"backends": {"m": {"type": "scripted"}},
                 "roles": {"asker": {"backend": "m", "endpoint": "completion", "transcript": {"instruction": "first"}},
                           "assistant": {"backend": "m"}}}
                """)
        ) {
            XCTAssertEqual(
                ($0 as? ConfigError)?.issues.map(\.path),
                ["roles.asker.transcript", "roles.asker.transcript.instruction"])
        }
    }

    func testRoleSwappedChatAnswersAsAssistant() async throws {
        var r = role(.swapped)
        r.systemPrompt = "You are a user."
        let p = try await prompt(r, dialogue)
        XCTAssertEqual(
            p,
            .chat([
                ChatMessage(.system, "You are a user."), ChatMessage(.assistant, "How do I boil an egg?"),
                ChatMessage(.user, "Simmer it for 9 minutes."),
            ]))
    }

    func testFreeModeOpensOnTheTopic() async throws {
        let opening = RoleConfig.defaultOpening.replacingOccurrences(of: "{topic}", with: "gardening")
        let swapped = try await prompt(role(.swapped), [], topic: "gardening")
        XCTAssertEqual(swapped, .chat([ChatMessage(.user, opening)]))
        let prompted = try await prompt(role(.prompted), [], topic: "gardening")
        XCTAssertEqual(prompted, .chat([ChatMessage(.user, opening)]))
        let trained = try await prompt(role(.trained, endpoint: .completion), [], topic: "gardening")
        XCTAssertEqual(trained, .text("The human wants to talk about gardening.\n\nHuman:"))
    }

    func testPersonaAndStyleReachEveryMode() async throws {
        let trained = try await prompt(
            role(.trained, endpoint: .completion), dialogue, persona: "a nurse", style: "terse")
        XCTAssertEqual(
            trained,
            .text(
                "You are a nurse. Write in this style: terse.\n\nHuman: How do I boil an egg?\nAssistant: Simmer it "
                    + "for 9 minutes.\nHuman:"
            ))
        let prompted = try await prompt(role(.prompted), dialogue, persona: "a nurse")
        XCTAssertEqual(
            prompted,
            .chat([
                ChatMessage(
                    .user,
                    "User: How do I boil an egg?\n\nAssistant: Simmer it for 9 minutes.\n\n"
                        + RoleConfig.defaultInstruction + " You are a nurse.")
            ]))
        let swapped = try await prompt(role(.swapped), dialogue, style: "terse")
        XCTAssertEqual(
            swapped,
            .chat([
                ChatMessage(.system, "Write in this style: terse."), ChatMessage(.assistant, "How do I boil an egg?"),
                ChatMessage(.user, "Simmer it for 9 minutes."),
            ]))
    }

    func testPersonasAreSampledPerDialogueFromTheRunSeed() async throws {
        let extra = #""personas": ["a nurse", "a pilot", "a chef", "a child"], "styles": ["terse", "chatty"]"#
        let seeds = (0..<40).map { #"{"question": "Question \#($0)?"}"# }
        func personas(_ seed: Int) async throws -> [String: String] {
            let config = try scriptedConfig(extra, run: #"{"seed": \#(seed), "concurrency": 8}"#)
            let (_, out) = try await runSynth(config, seeds: seeds)
            var byID: [String: String] = [:]
            for row in try readJSONL(out + "/dialogues.jsonl") {
                let meta = try XCTUnwrap(row["meta"] as? [String: Any])
                byID[row["id"] as! String] = "\(meta["persona"] ?? "-")|\(meta["style"] ?? "-")"
            }
            return byID
        }
        let a = try await personas(1)
        let b = try await personas(1)
        let c = try await personas(2)
        XCTAssertEqual(a.count, 40)
        XCTAssertEqual(a, b, "the same run seed gives every dialogue the same persona")
        XCTAssertNotEqual(a, c, "another run seed samples again")
        XCTAssertEqual(Set(a.values.map { $0.split(separator: "|")[0] }), ["a nurse", "a pilot", "a chef", "a child"])
    }

    func testPersonaFileIsRead() throws {
        let dir = tempDir()
        try "a nurse\n\n  a pilot  \n".write(toFile: dir + "/p.txt", atomically: true, encoding: .utf8)
        let config = try scriptedConfig(#""personas": {"file": "\#(dir)/p.txt"}"#)
        XCTAssertEqual(try Engine(config: config).personas, ["a nurse", "a pilot"])
        let missing = try scriptedConfig(#""personas": {"file": "/nonexistent/p.txt"}"#)
        XCTAssertThrowsError(try Engine(config: missing)) {
            XCTAssertEqual(($0 as? ConfigError)?.issues.first?.path, "personas.file")
        }
    }
}
