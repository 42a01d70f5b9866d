import XCTest

@testable import Parley

/// Each filter, with trim and with drop, on hand-made dialogues; then through a run.
final class FilterTests: XCTestCase {
    func d(_ texts: [String], lastFinish: String? = nil) -> [Message] {
        texts.enumerated().map { i, t in
            Message(
                i % 2 == 0 ? .user : .assistant, t,
                meta: TurnMeta(
                    role: i % 2 == 0 ? "asker" : "assistant", finishReason: i == texts.count - 1 ? lastFinish : "stop"))
        }
    }

    func check(_ f: FilterConfig, _ messages: [Message], blocked: [String] = []) -> (FilterDecision, Int)? {
        DialogueFilters(config: f, blockTerms: blocked).firstOffence(in: messages).map { ($0.decision, $0.cut) }
    }

    let good = [
        "How do tides work?", "The moon pulls the oceans.", "Why are there two each day?",
        "The earth rotates through two bulges.",
    ]

    func testCleanDialoguesPassEveryFilter() {
        var f = FilterConfig()
        f.userLength = .init(min: 2, max: 50)
        f.repeats = .init()
        f.politeCloser = .init()
        f.truncated = .init()
        f.roleExchange = .init()
        f.blocklist = .init(terms: ["bomb"])
        XCTAssertNil(check(f, d(good), blocked: ["bomb"]))
    }

    func testUserLengthInWordsAndChars() throws {
        var f = FilterConfig()
        f.userLength = .init(min: 5, unit: .words, action: .trim)
        let (decision, cut) = try XCTUnwrap(
            check(f, d(["Explain how tides work please.", "Moon.", "Why?", "Rotation."])))
        XCTAssertEqual(
            decision, FilterDecision(filter: "user_length", turn: 2, action: .trim, detail: "1 words < min 5"))
        XCTAssertEqual(cut, 2)
        f.userLength = .init(max: 20, unit: .chars, action: .drop)
        XCTAssertEqual(check(f, d(good))?.0.detail, "27 chars > max 20")
    }

    func testNearRepeatsByRougeL() throws {
        var f = FilterConfig()
        f.repeats = .init(threshold: 0.8, action: .trim)
        let messages = d([
            "How do the tides work on earth?", "The moon.", "So how do the tides work on earth?", "As I said.",
        ])
        let (decision, cut) = try XCTUnwrap(check(f, messages))
        XCTAssertEqual(decision.filter, "repeat")
        XCTAssertEqual(decision.turn, 2)
        XCTAssertEqual(cut, 2)
        XCTAssertEqual(decision.detail, "ROUGE-L 0.93 with turn 1")  // lcs 7: P = 7/8, R = 7/7
        f.repeats?.threshold = 0.95
        XCTAssertNil(check(f, messages))
    }

    func testPoliteClosersAreTrimmed() throws {
        var f = FilterConfig()
        f.politeCloser = .init()
        let (decision, cut) = try XCTUnwrap(check(f, d(good + ["Thanks so much, that's great!", "You're welcome!"])))
        XCTAssertEqual(
            decision, FilterDecision(filter: "polite_closer", turn: 3, action: .trim, detail: "only pleasantries"))
        XCTAssertEqual(cut, 4)
        XCTAssertNil(
            check(f, d(["Thanks! Now how do tides work?", "The moon."])), "a question after the thanks is kept")
    }

    func testTruncatedMessagesAreTrimmed() throws {
        var f = FilterConfig()
        f.truncated = .init()
        let (decision, cut) = try XCTUnwrap(check(f, d(good, lastFinish: "length")))
        XCTAssertEqual(
            decision,
            FilterDecision(
                filter: "truncated", turn: 2, action: .trim, detail: "assistant message cut at its token limit"))
        XCTAssertEqual(cut, 2)
    }

    func testRoleExchangeByPhraseAndByLength() throws {
        var f = FilterConfig()
        f.roleExchange = .init(lengthRatio: 3, minWords: 12)
        let phrase = try XCTUnwrap(check(f, d(good + ["Sure! Here is a summary of tides for you.", "Thanks."])))
        XCTAssertEqual(phrase.0.detail, "reads like an assistant: \"sure here is\"")
        let long = Array(repeating: "word", count: 15).joined(separator: " ")
        let byLength = try XCTUnwrap(check(f, d(["What is a tide?", "A bulge.", "Why?", "Rotation.", long, "Ok."])))
        XCTAssertEqual(byLength.0.turn, 3)
        // The others: 4 and 1 words, median 2.5.
        XCTAssertEqual(byLength.0.detail, "15 words, 6.0× the median user turn")
    }

    func testBlocklistMatchesWholeWordsInAnyMessage() throws {
        var f = FilterConfig()
        f.blocklist = .init(action: .drop)
        let hit = try XCTUnwrap(
            check(f, d(good + ["Tell me more.", "Some secret plans follow."]), blocked: ["secret plans"]))
        XCTAssertEqual(
            hit.0,
            FilterDecision(
                filter: "blocklist", turn: 3, action: .drop, detail: "blocked term #1 in a assistant message"))
        XCTAssertNil(check(f, d(good), blocked: ["tide"]), "\"tides\" is not the word \"tide\"")
    }

    func testTheEarliestOffenceDecides() throws {
        var f = FilterConfig()
        f.politeCloser = .init()
        f.blocklist = .init(terms: ["moon"], action: .drop)
        let hit = try XCTUnwrap(check(f, d(good), blocked: ["moon"]))
        XCTAssertEqual(hit.0.filter, "blocklist")
        XCTAssertEqual(hit.0.turn, 1)
    }

    func testFiltersInARunTrimDropAndCount() async throws {
        // Scripted askers write "asker N: words…"; filter the 2nd exchange's (the first generated) asker turn
        // by length.
        let filters = #""filters": {"user_length": {"max": 2, "unit": "words", "action": "trim"}}"#
        let config = try scriptedConfig(filters, turns: #"{"max": 4, "min": 1}"#)
        let (summary, out) = try await runSynth(config, seeds: (0..<20).map { #"{"question": "Tides \#($0)?"}"# })
        // Every generated asker turn is longer than 2 words: each dialogue keeps its seeded first exchange only.
        XCTAssertEqual(summary.stats.finished, 20)
        XCTAssertEqual(summary.stats.turns, 20)
        XCTAssertEqual(summary.stats.filters, ["user_length": ["trim": 20]])
        let (unfiltered, _) = try await runSynth(
            try scriptedConfig(turns: #"{"max": 4, "min": 1}"#),
            seeds: (0..<20).map { #"{"question": "Tides \#($0)?"}"# })
        XCTAssertEqual(
            summary.stats.messagesGenerated, unfiltered.stats.messagesGenerated,
            "trimmed messages still count as generated")
        XCTAssertEqual(summary.stats.completionTokens, unfiltered.stats.completionTokens)
        let rows = try readJSONL(out + "/dialogues.jsonl")
        let decision = try XCTUnwrap(((rows[0]["meta"] as? [String: Any])?["filters"] as? [[String: Any]])?.first)
        XCTAssertEqual(decision["filter"] as? String, "user_length")
        XCTAssertEqual(decision["turn"] as? Int, 2)
        XCTAssertEqual(decision["action"] as? String, "trim")

        // min 2: the same trims leave too little, so the dialogues go whole to filtered.jsonl.
        let strict = try scriptedConfig(filters, turns: #"{"max": 4, "min": 2}"#)
        let (s2, out2) = try await runSynth(strict, seeds: (0..<20).map { #"{"question": "Tides \#($0)?"}"# })
        XCTAssertEqual(s2.stats.finished, 0)
        XCTAssertEqual(s2.stats.filtered, 20)
        let filtered = try readJSONL(out2 + "/filtered.jsonl")
        XCTAssertEqual(filtered.count, 20)
        XCTAssertEqual(
            filtered.map { $0["turns"] as? Int }, Array(repeating: 4, count: 20), "nothing generated is lost")
    }

    func testCorpusDuplicatesAreDroppedAndSurviveAResume() async throws {
        let config = try scriptedConfig(#""filters": {"duplicates": true}"#, turns: #"{"max": 2}"#)
        // Ten distinct seeds, each question given twice under different ids.
        let seeds = (0..<20).map { #"{"id": "s\#($0)", "question": "Question \#($0 % 10)?"}"# }
        let (summary, out) = try await runSynth(config, seeds: seeds)
        XCTAssertEqual(summary.stats.finished, 10)
        XCTAssertEqual(summary.stats.filters, ["duplicates": ["drop": 10]])
        let kept = Set(try readJSONL(out + "/dialogues.jsonl").map { conversation($0)[0].1 })
        XCTAssertEqual(kept.count, 10)

        // A resumed run with more seeds still knows what was kept.
        let more = seeds + (20..<25).map { #"{"id": "s\#($0)", "question": "Question \#($0 % 10)?"}"# }
        let dir = (out as NSString).deletingLastPathComponent
        let runner = Runner(engine: try Engine(config: config), seedsPath: writeSeeds(more, in: dir), outputDir: out)
        let resumed = try await runner.run()
        XCTAssertEqual(resumed.stats.finished, 10)
        XCTAssertEqual(resumed.stats.filters, ["duplicates": ["drop": 15]])
    }

    func testFilterConfigErrorsNameTheirPath() {
        XCTAssertThrowsError(
            try scriptedConfig(#""filters": {"repeat": {"threshold": 2}, "user_length": {}, "polite": true}"#)
        ) { error in
            let paths = (error as? ConfigError)?.issues.map(\.path) ?? []
            XCTAssertEqual(Set(paths), ["filters.repeat.threshold", "filters.user_length", "filters.polite"])
        }
    }
}
