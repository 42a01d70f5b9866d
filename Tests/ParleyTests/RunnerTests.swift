import Foundation
import XCTest

@testable import Parley

final class RunnerTests: XCTestCase {
    let questions = (1...20).map { #"{"question": "Question number \#($0)?"}"# }

    func testOneDialogueAtATimeWritesRowsInSeedOrder() async throws {
        // Ends are written by the end queue's thread or by their callers, in the order they come: one at a time,
        // that is the seeds' order (a sharded run's merge is checked against it).
        let seeds = (0..<300).map { #"{"question": "Question \#($0)?"}"# }
        let (summary, dir) = try await runSynth(
            try scriptedConfig(turns: #"{"max": 2}"#, run: #"{"seed": 3, "concurrency": 1}"#), seeds: seeds)
        XCTAssertEqual(summary.stats.finished, 300)
        let lines = try String(contentsOfFile: dir + "/dialogues.jsonl", encoding: .utf8).split(separator: "\n")
        let order = try lines.map { line -> Int in
            guard case .object(let row) = try JSONParser.parse(utf8: Array(line.utf8)),
                case .object(let meta)? = row["meta"], case .number(let n)? = meta["seed_line"]
            else { throw RunError.io("a row without meta.seed_line: \(line)") }
            return Int(n)
        }
        XCTAssertEqual(order, Array(1...300))
    }

    func testTurnsAlternateUpToTheCap() async throws {
        let config = try scriptedConfig(
            assistant: #"{"backend": "fake", "system_prompt": "Be brief.", "max_tokens": 64}"#)
        let (summary, out) = try await runSynth(config, seeds: questions)
        XCTAssertEqual(summary.stats.finished, 20)
        XCTAssertEqual(summary.stats.turns, 80)
        XCTAssertEqual(summary.stats.endReasons, ["max_turns": 20])
        for row in try readJSONL(out + "/dialogues.jsonl") {
            let conv = conversation(row)
            XCTAssertEqual(conv.map(\.0), ["system"] + Array(repeating: ["human", "gpt"], count: 4).flatMap { $0 })
            XCTAssertEqual(conv[0].1, "Be brief.")
            XCTAssertTrue(conv[1].1.hasPrefix("Question number"))
            XCTAssertEqual(row["turns"] as? Int, 4)
            XCTAssertEqual(row["end_reason"] as? String, "max_turns")
            let generation = try XCTUnwrap((row["meta"] as? [String: Any])?["generation"] as? [[String: Any]])
            XCTAssertEqual(generation.count, conv.count)
            XCTAssertEqual(generation[2]["role"] as? String, "assistant")
            XCTAssertEqual(generation[3]["role"] as? String, "asker")
            XCTAssertNotNil(generation[3]["completion_tokens"] as? Int)
        }
        let messages = try readJSONL(out + "/messages.jsonl")
        XCTAssertTrue(messages.isEmpty, "messages.jsonl is written only when asked for")
    }

    func testSeedModes() async throws {
        let config = try scriptedConfig(#""output": {"formats": ["messages"]}"#, turns: #"{"max": 3}"#)
        let (summary, out) = try await runSynth(
            config,
            seeds: [
                #"{"id": "q", "question": "Only a question?"}"#,
                #"{"id": "qa", "question": "Seeded question?", "answer": "Seeded answer."}"#,
                #"{"id": "free", "topic": "gardening"}"#,
                #"{"id": "empty"}"#,
            ])
        XCTAssertEqual(summary.stats.finished, 4)
        let rows = Dictionary(
            uniqueKeysWithValues: try readJSONL(out + "/dialogues.jsonl").map { ($0["id"] as! String, $0) })
        XCTAssertEqual(conversation(rows["q"]!).first?.1, "Only a question?")
        let qa = conversation(rows["qa"]!)
        XCTAssertEqual(qa[0].1, "Seeded question?")
        XCTAssertEqual(qa[1].1, "Seeded answer.")
        XCTAssertTrue(qa[2].1.hasPrefix("asker 2:"), "the asker continues after the seeded exchange")
        XCTAssertEqual(qa.count, 6, "the seeded exchange counts as a turn")
        XCTAssertTrue(conversation(rows["free"]!)[0].1.hasPrefix("asker 0:"), "free mode: the asker opens")
        XCTAssertEqual(((rows["free"]!["meta"] as? [String: Any])?["topic"] as? String), "gardening")
        let messages = try readJSONL(out + "/messages.jsonl")
        XCTAssertEqual(messages.count, 4)
        XCTAssertEqual((messages[0]["messages"] as? [[String: Any]])?.first?["role"] as? String, "user")
    }

    func testAskerEndMarker() async throws {
        let config = try scriptedConfig(
            backend: #"{"type": "scripted", "end_at_turn": 3}"#, turns: #"{"max": 6, "end_marker": "<e>"}"#)
        let (summary, out) = try await runSynth(config, seeds: Array(questions.prefix(5)))
        XCTAssertEqual(summary.stats.endReasons, ["asker_ended": 5])
        for row in try readJSONL(out + "/dialogues.jsonl") {
            XCTAssertEqual(row["turns"] as? Int, 2)
            XCTAssertFalse(conversation(row).contains { $0.1.contains("<e>") })
        }
    }

    func testContextExhaustedEndsTheDialogueWithoutARequest() async throws {
        // The asker's window cannot hold even the newest exchange once answers grow long.
        let config = try scriptedConfig(
            backend: #"{"type": "scripted", "words": [40, 40]}"#,
            asker: #"{"backend": "fake", "endpoint": "completion", "max_tokens": 16, "max_context": 120}"#)
        let long = #"{"question": "\#(String(repeating: "word ", count: 150))"}"#
        let (summary, out) = try await runSynth(config, seeds: [long] + Array(questions.prefix(3)))
        XCTAssertEqual(summary.stats.endReasons["context_exhausted"], 4)
        XCTAssertEqual(summary.stats.failed, 0)
        let rows = try readJSONL(out + "/dialogues.jsonl")
        XCTAssertEqual(rows.count, 4)
        XCTAssertTrue(rows.allSatisfy { ($0["meta"] as? [String: Any])?["context_exhausted"] is String })
    }

    func testOnFullEndStopsWhenTheWholeHistoryNoLongerFitsAsPlatoLMDoes() async throws {
        // Same seeds, same cap; the asker's context holds about ten exchanges.
        func run(onFull: String) async throws -> (RunSummary, [[String: Any]], [[String: Any]]) {
            let asker =
                #"{"backend": "fake", "endpoint": "completion", "max_tokens": 16, "max_context": 400, "#
                + #""on_full": "\#(onFull)"}"#
            let config = try scriptedConfig(
                backend: #"{"type": "scripted", "words": [12, 12]}"#, asker: asker, turns: #"{"max": 30}"#)
            let long = #"{"question": "\#(String(repeating: "word ", count: 300))"}"#
            let (summary, out) = try await runSynth(config, seeds: [long] + Array(questions.prefix(3)))
            return (summary, try readJSONL(out + "/dialogues.jsonl"), try readJSONL(out + "/filtered.jsonl"))
        }
        let (windowed, windowedRows, _) = try await run(onFull: "window")
        XCTAssertEqual(windowed.stats.endReasons["max_turns"], 3, "windowing drops old exchanges and reaches the cap")
        XCTAssertEqual(windowedRows.filter { $0["turns"] as? Int == 30 }.count, 3)

        let (ended, rows, filtered) = try await run(onFull: "end")
        XCTAssertEqual(ended.stats.endReasons, ["context_exhausted": 4])
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(windowed.stats.filters, [:], "windowing keeps the long seed's dialogue")
        for row in rows {
            let turns = try XCTUnwrap(row["turns"] as? Int)
            XCTAssertGreaterThan(turns, 3)
            XCTAssertLessThan(turns, 30, "ended when the history filled the asker's context")
            let meta = try XCTUnwrap(row["meta"] as? [String: Any])
            XCTAssertTrue((meta["context_exhausted"] as? String)?.hasPrefix("asker needs") == true)
            // Every asker prompt held the whole history: its prompt grew with every exchange.
            let generation = try XCTUnwrap(meta["generation"] as? [[String: Any]])
            let askerPrompts = generation.filter { $0["role"] as? String == "asker" }.compactMap {
                $0["prompt_tokens"] as? Int
            }
            XCTAssertEqual(askerPrompts, askerPrompts.sorted())
            XCTAssertLessThanOrEqual(askerPrompts.max() ?? 0, 400 - 16 - 4, "within the context")
        }
        // The seed whose first round alone overflows is skipped, recorded and counted (PlatoLM skips it).
        XCTAssertEqual(filtered.count, 1)
        XCTAssertEqual(filtered.first?["turns"] as? Int, 1, "the seed's question and its answer")
        XCTAssertEqual(filtered.first?["end_reason"] as? String, "context_exhausted")
        let decisions = (filtered.first?["meta"] as? [String: Any])?["filters"] as? [[String: Any]]
        XCTAssertEqual(decisions?.first?["filter"] as? String, "on_full")
        XCTAssertEqual(ended.stats.filtered, 1)
        XCTAssertEqual(ended.stats.filters, ["on_full": ["drop": 1]])
    }

    func testOnFullNamesItsChoicesWhenWrong() {
        XCTAssertThrowsError(
            try scriptedConfig(asker: #"{"backend": "fake", "endpoint": "completion", "on_full": "drop"}"#)
        ) { error in
            XCTAssertTrue(
                "\(error)".contains(#"roles.asker.on_full: expected one of "window", "end", got "drop""#), "\(error)")
        }
    }

    func testDialoguesBelowTheMinimumAreFiltered() async throws {
        let config = try scriptedConfig(
            assistant: #"{"backend": "fake", "max_tokens": 16, "max_context": 60}"#)
        let long = #"{"question": "\#(String(repeating: "word ", count: 200))"}"#
        let (summary, out) = try await runSynth(config, seeds: [long, questions[0]])
        XCTAssertEqual(summary.stats.filtered, 1)
        XCTAssertEqual(summary.stats.finished, 1)
        let filtered = try readJSONL(out + "/filtered.jsonl")
        XCTAssertEqual(filtered.first?["end_reason"] as? String, "context_exhausted")
        XCTAssertEqual(filtered.first?["turns"] as? Int, 0)
    }

    func testEmptyTurnEndsTheDialogue() async throws {
        struct Silent: Backend {
            var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
            func generate(_ r: GenerationRequest) async throws -> GenerationResult {
                GenerationResult(text: r.role == "asker" ? "  \n" : "An answer.")
            }
        }
        let config = try scriptedConfig()
        let (summary, out) = try await runSynth(config, seeds: [questions[0]], backends: ["fake": Silent()])
        XCTAssertEqual(summary.stats.endReasons, ["degenerate": 1])
        let row = try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first)
        XCTAssertEqual(row["turns"] as? Int, 1)
        XCTAssertEqual((row["meta"] as? [String: Any])?["degenerate"] as? String, "empty user turn")
    }

    /// A model that says the same thing at every turn of a dialogue.
    struct Parrot: Backend {
        var reply: @Sendable (GenerationRequest) -> String
        var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
        func generate(_ r: GenerationRequest) async throws -> GenerationResult { GenerationResult(text: reply(r)) }
    }

    func testRepeatedTurnsAreDegenerate() async throws {
        let echo = Parrot { r in r.role == "asker" ? "  Tell me MORE.  " : "Answer \(r.messageIndex)." }
        let (summary, out) = try await runSynth(try scriptedConfig(), seeds: [questions[0]], backends: ["fake": echo])
        XCTAssertEqual(summary.stats.endReasons, ["degenerate": 1])
        let row = try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first)
        XCTAssertEqual(conversation(row).map(\.1), ["Question number 1?", "Answer 1.", "Tell me MORE.", "Answer 3."])
        XCTAssertEqual((row["meta"] as? [String: Any])?["degenerate"] as? String, "repeated user turn")
    }

    func testClosingKeywordsEndTheDialogueAfterTheReply() async throws {
        let polite = Parrot { r in
            r.role == "asker"
                ? (r.messageIndex >= 4 ? "Great, thanks. Goodbye!" : "And then \(r.messageIndex)?")
                : "Reply \(r.messageIndex)."
        }
        let config = try scriptedConfig(turns: #"{"max": 8, "closing_keywords": ["goodbye", "see you"]}"#)
        let (summary, out) = try await runSynth(config, seeds: [questions[0]], backends: ["fake": polite])
        XCTAssertEqual(summary.stats.endReasons, ["closed": 1])
        let conv = conversation(try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first))
        XCTAssertEqual(conv.suffix(2).map(\.1), ["Great, thanks. Goodbye!", "Reply 5."])
        // Whole words only: "goodbyes" or "see your" do not close.
        XCTAssertFalse(Recipes.closes([Message(.user, "See your goodbyes")], keywords: ["goodbye", "see you"]))
        XCTAssertTrue(Recipes.closes([Message(.assistant, "OK, see you!")], keywords: ["see you"]))
    }

    func testRetriesThenFailureIsRecordedWithItsReason() async throws {
        let config = try scriptedConfig(backend: #"{"type": "scripted", "fail_rate": 1, "max_retries": 2}"#)
        let (summary, out) = try await runSynth(config, seeds: Array(questions.prefix(4)))
        XCTAssertEqual(summary.stats.failed, 4)
        XCTAssertEqual(summary.stats.finished, 0)
        let failures = try readJSONL(out + "/failures.jsonl")
        XCTAssertEqual(failures.count, 4)
        for f in failures {
            let reason = try XCTUnwrap(f["reason"] as? String)
            XCTAssertTrue(reason.contains("scripted failure") && reason.contains("after 3 attempts"), reason)
            XCTAssertEqual(f["end_reason"] as? String, "failed")
        }
    }

    func testTransientFailuresAreRetried() async throws {
        let config = try scriptedConfig(backend: #"{"type": "scripted", "fail_every": 3, "max_retries": 6}"#)
        let (summary, out) = try await runSynth(config, seeds: Array(questions.prefix(10)))
        XCTAssertEqual(summary.stats.finished, 10)
        let attempts = try readJSONL(out + "/dialogues.jsonl").flatMap {
            (($0["meta"] as? [String: Any])?["generation"] as? [[String: Any]] ?? []).compactMap {
                $0["attempts"] as? Int
            }
        }
        XCTAssertTrue(attempts.contains(2), "some requests needed a retry")
    }

    func testSameDialoguesAtAnyConcurrency() async throws {
        func run(_ concurrency: Int) async throws -> [String: String] {
            let config = try scriptedConfig(
                backend: #"{"type": "scripted", "latency_ms": 1, "jitter_ms": 1}"#,
                turns: #"{"max": [2, 6]}"#, run: #"{"seed": 9, "concurrency": \#(concurrency)}"#)
            let (_, out) = try await runSynth(config, seeds: questions + ["{}", #"{"topic": "x"}"#])
            return Dictionary(
                uniqueKeysWithValues: try readJSONL(out + "/dialogues.jsonl").map {
                    ($0["id"] as! String, conversation($0).map { "\($0.0):\($0.1)" }.joined(separator: "|"))
                })
        }
        let one = try await run(1)
        let many = try await run(64)
        XCTAssertEqual(one.count, 22)
        XCTAssertEqual(one, many)
    }

    func testBackendConcurrencyLimitHolds() async throws {
        final class Gauge: Backend, @unchecked Sendable {
            let state = Locked((now: 0, peak: 0))
            var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
            func generate(_ r: GenerationRequest) async throws -> GenerationResult {
                state.withLock {
                    $0.now += 1
                    $0.peak = max($0.peak, $0.now)
                }
                try await Task.sleep(nanoseconds: 2_000_000)
                state.withLock { $0.now -= 1 }
                return GenerationResult(text: "text \(r.messageIndex)")
            }
        }
        let gauge = Gauge()
        let config = try scriptedConfig(
            backend: #"{"type": "scripted", "max_concurrency": 3}"#, run: #"{"concurrency": 50}"#)
        _ = try await runSynth(config, seeds: questions, backends: ["fake": gauge])
        XCTAssertEqual(gauge.state.withLock { $0.peak }, 3)
    }

    func testBrokenSeedLinesAreRecordedAndTheRestRuns() async throws {
        let config = try scriptedConfig()
        let (summary, out) = try await runSynth(
            config,
            seeds: [
                questions[0], #"{"question": "#, "", #"{"id": "a", "question": "x"}"#, #"{"id": "a", "question": "y"}"#,
            ])
        XCTAssertEqual(summary.stats.finished, 2)
        XCTAssertEqual(summary.stats.invalidSeeds, 2)
        let failures = try readJSONL(out + "/failures.jsonl")
        let reasons = failures.map { $0["reason"] as? String ?? "" }
        XCTAssertTrue(reasons[0].hasPrefix("seeds line 2: not valid JSON: "), reasons[0])
        XCTAssertEqual(reasons[1], #"seeds line 5: id "a" repeats line 4"#)
    }

    func testUnreachableServerFailsWithAClearReason() async throws {
        let config = try scriptedConfig(
            backend:
                #"{"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": 1, "#
                + #""backoff_base_seconds": 0.01, "timeout_seconds": 2}"#
        )
        let (summary, out) = try await runSynth(config, seeds: [questions[0]])
        XCTAssertEqual(summary.stats.failed, 1)
        let reason = try XCTUnwrap(try readJSONL(out + "/failures.jsonl").first?["reason"] as? String)
        XCTAssertTrue(
            reason.contains("http://127.0.0.1:9/v1/chat/completions") && reason.contains("after 2 attempts"), reason)
        print("unreachable server:", reason)
    }
}
