import XCTest

@testable import Parley

final class ContextWindowTests: XCTestCase {
    func testKeepsNewestExchangesAndDropsOldestWhole() {
        let w = ContextWindow(budget: 100)
        // Exchanges: [0,1] [2,3] [4]
        let kept = w.select(fixed: 10, costs: [30, 30, 20, 20, 25], exchangeStarts: [true, false, true, false, true])
        XCTAssertEqual(kept?.indices(count: 5), [2, 3, 4])
    }

    func testPinsFirstExchangeWhenAsked() {
        let w = ContextWindow(budget: 100, keepFirstExchange: true)
        let kept = w.select(
            fixed: 10, costs: [10, 10, 40, 40, 20, 20], exchangeStarts: [true, false, true, false, true, false])
        XCTAssertEqual(kept?.indices(count: 6), [0, 1, 4, 5])
        // Without room for the pin, the newest exchange alone.
        let pinless = ContextWindow(budget: 50, keepFirstExchange: true)
            .select(
                fixed: 10, costs: [30, 10, 40, 40, 20, 20], exchangeStarts: [true, false, true, false, true, false])
        XCTAssertEqual(pinless?.indices(count: 6), [4, 5])
    }

    func testExhaustedWhenNewestExchangeCannotFit() {
        XCTAssertNil(
            ContextWindow(budget: 50).select(fixed: 10, costs: [5, 5, 41], exchangeStarts: [true, false, true]))
        XCTAssertNil(ContextWindow(budget: 5).select(fixed: 10, costs: [], exchangeStarts: []))
    }

    /// Property: for random dialogues, the rendered prompt never exceeds the budget,
    /// always keeps the system prompt and the newest message, and is a suffix of exchanges.
    func testRenderedPromptsNeverExceedTheBudget() async throws {
        var rng = SplitMix64(seed: 42)
        let counter = EstimatingTokenCounter(charsPerToken: 3)
        for trial in 0..<300 {
            var role = RoleConfig(name: "assistant")
            role.endpoint = trial % 2 == 0 ? .completion : .chat
            role.maxContext = Int.random(in: 120...900, using: &rng)
            role.maxTokens = Int.random(in: 10...60, using: &rng)
            role.systemPrompt = "System prompt number \(trial) that must never be dropped."
            role.keepFirstExchange = trial % 3 == 0
            let template = [Template.humanAssistant, .llama2, .chatml, .gemma][trial % 4]
            let builder = PromptBuilder(role: role, template: template, counter: counter, chatOverhead: 4)

            var messages: [Message] = []
            for i in 0..<(Int.random(in: 0...12, using: &rng) * 2 + 1) {
                let words = Int.random(in: 1...60, using: &rng)
                messages.append(
                    Message(
                        i % 2 == 0 ? .user : .assistant,
                        (0..<words).map { _ in "w\(rng.next() % 1000)" }.joined(separator: " ")))
            }
            let view = View.of(messages, for: role, writing: .assistant, topic: nil)
            let counts = messages.map { counter.count($0.content) }
            let outcome = try await builder.build(
                view, contentCounts: counts, exchangeStarts: messages.map { $0.speaker == .user })
            switch outcome {
            case .ready(let prompt, _, let kept, _):
                let tokens: Int
                switch prompt {
                case .text(let t):
                    tokens = counter.count(t)
                    XCTAssertTrue(t.contains(role.systemPrompt!), "trial \(trial): system prompt dropped")
                    XCTAssertTrue(t.contains(messages.last!.content), "trial \(trial): newest message dropped")
                case .chat(let m):
                    tokens = m.reduce(4) { $0 + counter.count($1.content) + 4 }
                    XCTAssertEqual(m.first?.content, role.systemPrompt)
                    XCTAssertEqual(m.last?.content, messages.last?.content)
                    XCTAssertEqual(m.count - 1, kept)
                }
                XCTAssertLessThanOrEqual(tokens + role.maxTokens, role.maxContext, "trial \(trial) overflows")
            case .exhausted(let needed, let budget):
                XCTAssertGreaterThan(needed, budget)
            }
        }
    }
}
