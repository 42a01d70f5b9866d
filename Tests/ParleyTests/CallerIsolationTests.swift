import XCTest

@testable import Parley

/// A request's path, from a turn to its backend, runs on its caller's executor (`nonisolated(nonsending)`): a
/// step that went over to the global executor on the way would show as a backend called off the caller's actor.
final class CallerIsolationTests: XCTestCase {
    /// Records, for each request, whether it arrived on the actor that made it.
    final class Witness: Backend, Sendable {
        let onCaller = Locked<[Bool]>([])
        var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
        nonisolated(nonsending) func generate(_ r: GenerationRequest) async throws -> GenerationResult {
            let isolation = #isolation
            onCaller.withLock { $0.append(isolation is Caller) }
            return GenerationResult(text: "A reply.", finishReason: "stop", promptTokens: 1, completionTokens: 2)
        }
    }

    actor Caller {
        func ask(_ endpoint: ModelEndpoint, index: Int) async throws -> String {
            let request = GenerationRequest(
                dialogueID: "d", messageIndex: index, role: "assistant", prompt: .text("hi"), model: nil,
                maxTokens: 8, temperature: 0, topP: 1, stop: [], seed: 0)
            return try await endpoint.generate(request).0.text
        }

        func turn(_ role: Role, in d: Dialogue) async throws -> TurnStep.Outcome {
            var memo = TurnStep.Memo()
            return try await TurnStep(runSeed: 1).run(role, writing: .assistant, in: d, cache: &memo)
        }
    }

    func testAnEndpointCallsItsBackendOnTheCallersExecutor() async throws {
        let backend = Witness()
        let endpoint = ModelEndpoint(
            name: "m", backend: backend, settings: BackendCommon(maxConcurrency: 1, maxRetries: 0))
        let caller = Caller()
        for i in 0..<3 { _ = try await caller.ask(endpoint, index: i) }
        XCTAssertEqual(backend.onCaller.withLock { $0 }, [true, true, true])
    }

    func testATurnBuildsAndSendsItsRequestOnTheCallersExecutor() async throws {
        let backend = Witness()
        let config = try Config.parse(
            #"{"backends": {"m": {"type": "scripted"}}, "roles": {"asker": {"backend": "m"}, "#
                + #""assistant": {"backend": "m", "system_prompt": "Be brief."}}}"#)
        let engine = try Engine(config: config, backends: ["m": backend])
        let role = try XCTUnwrap(engine.roles["assistant"])
        let d = Dialogue(seed: Seed(id: "s", question: "Why is the sky blue?"), messages: [Message(.user, "Why?")])
        guard case .message(let m) = try await Caller().turn(role, in: d) else { return XCTFail("no message") }
        XCTAssertEqual(m.content, "A reply.")
        XCTAssertEqual(backend.onCaller.withLock { $0 }, [true])
    }
}
