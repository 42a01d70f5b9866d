import XCTest

@testable import Parley

final class TemplateTests: XCTestCase {
    let exchange = [Message(.user, "Hi?"), Message(.assistant, "Hello."), Message(.user, "And then?")]

    func testHumanAssistantTranscript() {
        let t = Template.humanAssistant
        XCTAssertEqual(
            t.render(system: "Be kind.", messages: exchange, next: .assistant),
            "Be kind.\n\nHuman: Hi?\nAssistant: Hello.\nHuman: And then?\nAssistant:")
        XCTAssertEqual(
            t.render(system: nil, messages: Array(exchange.prefix(2)), next: .user),
            "Human: Hi?\nAssistant: Hello.\nHuman:")
        XCTAssertEqual(t.stops(generating: .user), ["\nAssistant:", "Assistant:"])
        XCTAssertEqual(t.stops(generating: .assistant), ["\nHuman:", "Human:"])
    }

    func testVicuna() {
        XCTAssertEqual(
            Template.vicuna.render(system: "S", messages: Array(exchange.prefix(2)), next: .user),
            "S USER: Hi? ASSISTANT: Hello.</s>USER:")
    }

    func testLlama2PutsSystemInsideFirstInstruction() {
        XCTAssertEqual(
            Template.llama2.render(system: "S", messages: exchange, next: .assistant),
            "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nHi? [/INST] Hello. </s><s>[INST] And then? [/INST]")
        XCTAssertTrue(Template.llama2.stops(generating: .assistant).contains("[INST]"))
    }

    func testChatML() {
        XCTAssertEqual(
            Template.chatml.render(system: "S", messages: [Message(.user, "Q")], next: .assistant),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n")
    }

    func testGemmaHasNoSystemRole() {
        XCTAssertEqual(
            Template.gemma.render(system: "S", messages: [Message(.user, "Q")], next: .assistant),
            "<start_of_turn>user\nS\n\nQ<end_of_turn>\n<start_of_turn>model\n")
        // An empty dialogue asking for the user's turn: the system text opens it.
        XCTAssertEqual(Template.gemma.render(system: "S", messages: [], next: .user), "<start_of_turn>user\nS\n\n")
    }

    func testSocratic() {
        XCTAssertEqual(
            Template.socratic.render(system: nil, messages: Array(exchange.prefix(2)), next: .user),
            "Human: <s>Hi?</s>Assistant: <s>Hello.</s>Human: <s>")
    }

    func testConfigDefinedTemplate() throws {
        let config = try scriptedConfig(
            #""templates": {"mine": {"begin": "<BOS>", "user": {"prefix": "[U]", "suffix": "\n"}, "assistant": "#
                + #"{"prefix": "[A]", "suffix": "\n", "opens": ["[A]"]}, "stop": ["<END>"]}}"#,
            asker: #"{"backend": "fake", "endpoint": "completion", "template": "mine", "max_tokens": 8}"#)
        let t = try XCTUnwrap(config.templates["mine"])
        XCTAssertEqual(t.render(system: nil, messages: [Message(.user, "q")], next: .assistant), "<BOS>[U]q\n[A]")
        XCTAssertEqual(t.stops(generating: .user), ["<END>", "[A]"])
    }

    func testCleanerCutsStopsAndLabels() {
        XCTAssertEqual(
            TurnCleaner.clean(" Human: why?\nAssistant: because", stops: ["\nAssistant:"], speaker: .user), "why?")
        XCTAssertEqual(TurnCleaner.clean("  \n ", stops: [], speaker: .assistant), "")
        // The earliest stop wins, wherever it is in the stop list; text past it goes.
        XCTAssertEqual(TurnCleaner.clean("a <B> b <A> c", stops: ["<A>", "<B>"], speaker: .assistant), "a")
        XCTAssertEqual(TurnCleaner.clean("no stop here", stops: ["<A>", ""], speaker: .assistant), "no stop here")
        // Non-ASCII whitespace is trimmed too, and non-ASCII text is cut at scalar boundaries.
        let spaced = "\u{3000}AI:\u{00A0} Grüße, José!\u{2003}\nUser: más"
        XCTAssertEqual(TurnCleaner.clean(spaced, stops: ["\nUser:"], speaker: .assistant), "Grüße, José!")
        XCTAssertEqual(TurnCleaner.clean("é\u{301}<END>x", stops: ["<END>"], speaker: .user), "é\u{301}")
        XCTAssertEqual(TurnCleaner.clean("[|Human|] hi", stops: [], speaker: .user), "hi")
        // A label is taken only whole, at the start, and only the speaker's own.
        XCTAssertEqual(TurnCleaner.clean("AI", stops: [], speaker: .assistant), "AI")
        XCTAssertEqual(TurnCleaner.clean("Say AI: yes", stops: [], speaker: .assistant), "Say AI: yes")
        XCTAssertEqual(TurnCleaner.clean("User: hi", stops: [], speaker: .assistant), "User: hi")
        XCTAssertEqual(TurnCleaner.clean("ASSISTANT:ok", stops: [], speaker: .assistant), "ok")
    }

    /// The estimate: a token per digit, and one per `charsPerToken` bytes of the rest, rounded up.
    func testTokenEstimateCountsDigitsAndBytes() {
        let counter = EstimatingTokenCounter(charsPerToken: 4)
        XCTAssertEqual(counter.estimate(""), 0)
        XCTAssertEqual(counter.estimate("abc123"), 3 + 1)
        XCTAssertEqual(counter.estimate("abcdefgh9"), 1 + 2)
        XCTAssertEqual(counter.estimate("é"), 1, "bytes, not characters")
        XCTAssertEqual(counter.estimate(String(repeating: "ab", count: 50)), 25)
    }
}
