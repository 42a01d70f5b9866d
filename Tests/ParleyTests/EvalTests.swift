import XCTest

@testable import Parley

/// `recipe: "eval"`: the verdict parser on realistic judge outputs, the exact judge
/// prompts per turn, position swapping, per-turn aggregation and unscored turns.
final class EvalTests: XCTestCase {
    func testRatingParserOnRealisticJudgeOutputs() {
        let cases: [(String, Double?)] = [
            ("The answer is correct and complete. Rating: [[9]]", 9),
            ("Mostly right, one slip in the arithmetic. [[6.5]]", 6.5),
            ("Rating: [[ 7 ]]", 7),
            ("[[8]] ... so, to repeat, [[8]]", 8),  // the same value twice is one verdict
            ("Somewhere between [[6]] and [[8]].", nil),  // several different values
            ("I would give it 8/10.", nil),  // not in the required form
            ("Rating: [[11]]", nil), ("Rating: [[0]]", nil),  // out of range
            ("Rating: [[-3]]", nil), ("Rating: [[7/10]]", nil), ("Rating: [[.5]]", nil), ("[[seven]]", nil),
            ("I'm sorry, but I can't evaluate this conversation.", nil),  // a refusal
            ("", nil), ("Rating: [[10]]", 10), ("[[1]]", 1), ("Rating: [[7]", nil),
        ]
        for (text, expected) in cases { XCTAssertEqual(VerdictParser.rating(text), expected, text) }
    }

    func testPreferenceParser() {
        XCTAssertEqual(VerdictParser.preference("A explains it better. [[A]]"), .a)
        XCTAssertEqual(VerdictParser.preference("[[b]]"), .b)
        XCTAssertEqual(VerdictParser.preference("Equally good: [[C]]"), .tie)
        XCTAssertNil(VerdictParser.preference("[[A]] or maybe [[B]]"))
        XCTAssertNil(VerdictParser.preference("Assistant A is better."))
        XCTAssertNil(VerdictParser.preference("[[D]]"))
    }

    /// Answers "Answer N." and judges by a rule; records every judge prompt.
    final class Models: Backend, @unchecked Sendable {
        let judgePrompts = Locked<[String]>([])
        let verdict: @Sendable (String) -> String
        init(verdict: @escaping @Sendable (String) -> String) { self.verdict = verdict }
        var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
        func generate(_ r: GenerationRequest) async throws -> GenerationResult {
            guard r.role == "judge" else {
                return GenerationResult(text: "Answer \(r.messageIndex).", finishReason: "stop")
            }
            guard case .chat(let m) = r.prompt else { return GenerationResult(text: "") }
            let body = m.last!.content
            judgePrompts.withLock { $0.append(body) }
            if body.contains("JUDGE DOWN") { throw BackendError("HTTP 500: judge down", retryable: false) }
            return GenerationResult(
                text: verdict(body), finishReason: "stop", promptTokens: 10, completionTokens: 3, model: "judge-model")
        }
    }

    func config(_ extra: String = "") throws -> Config {
        try Config.parse(
            """
            {"recipe": "eval", "backends": {"m": {"type": "scripted", "max_retries": 0}},
             "roles": {"candidate": {"backend": "m", "max_tokens": 32}, "judge": {"backend": "m", "max_tokens": 32}},
             "run": {"seed": 3}\(extra)}
            """)
    }

    let session =
        #"{"id": "s1", "category": "math", "turns": ["What is 2+2?", "And times 3?", "Minus 1?"], "reference": ["4", "#
        + #""12", "11"]}"#

    func testJudgePromptsPerTurnAndReferences() async throws {
        let models = Models { _ in "Fine. [[7]]" }
        let (summary, out) = try await runSynth(try config(), seeds: [session], backends: ["m": models])
        XCTAssertEqual(summary.stats.judgedTurns, 3)
        XCTAssertEqual(summary.stats.unscoredTurns, 0)
        let prompts = models.judgePrompts.withLock { $0 }
        XCTAssertEqual(prompts.count, 3)
        let third = try XCTUnwrap(prompts.first { $0.contains("turn 3 of 3") })
        let instruction = EvalPrompts().single.replacingOccurrences(of: "{turn}", with: "3").replacingOccurrences(
            of: "{turns}", with: "3")
        XCTAssertEqual(
            third,
            """
            User: What is 2+2?

            Assistant: Answer 1.

            User: And times 3?

            Assistant: Answer 3.

            User: Minus 1?

            Assistant: Answer 5.

            A reference answer to the user's last message: 11
            Judge the answer against it; an answer that contradicts it is wrong.


            """ + instruction)
        let first = try XCTUnwrap(prompts.first { $0.contains("turn 1 of 3") })
        XCTAssertTrue(
            first.hasPrefix(
                "User: What is 2+2?\n\nAssistant: Answer 1.\n\nA reference answer to the user's last message: 4\n"))
        let row = try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first)
        let judgments = try XCTUnwrap((row["meta"] as? [String: Any])?["judgments"] as? [[String: Any]])
        XCTAssertEqual(judgments.map { $0["score"] as? Double }, [7, 7, 7])
        XCTAssertEqual(judgments[0]["model"] as? String, "judge-model")
        XCTAssertEqual(judgments[0]["requests"] as? Int, 1)
    }

    func testUnparseableVerdictsAreReaskedThenCountedUnscored() async throws {
        // Turn 2's judge never gives a verdict in the required form; the others say 5 then 9.
        let models = Models { body in
            if body.contains("turn 2 of 3") { return "It is a decent answer, I'd say 8 out of 10." }
            return body.contains("turn 1 of 3") ? "[[5]]" : "[[9]]"
        }
        let (summary, out) = try await runSynth(
            try config(#", "eval": {"reask": 2}"#), seeds: [session], backends: ["m": models])
        XCTAssertEqual(summary.stats.unscoredTurns, 1)
        let judgments = try XCTUnwrap(
            ((try readJSONL(out + "/dialogues.jsonl").first)?["meta"] as? [String: Any])?["judgments"]
                as? [[String: Any]])
        XCTAssertTrue(judgments[1]["score"] is NSNull, "an unscored turn is never given a number")
        XCTAssertEqual(judgments[1]["requests"] as? Int, 3)
        XCTAssertEqual((judgments[1]["raw"] as? [String])?.count, 3, "every raw answer is kept")
        XCTAssertTrue(models.judgePrompts.withLock { $0 }.contains { $0.hasSuffix(EvalPrompts().reask) })

        let report = try EvalReport.load(runs: [out])
        let m = try XCTUnwrap(report.models.first)
        XCTAssertEqual(m.perTurn[1], EvalReport.Tally(sum: 5, scored: 1, unscored: 0))
        XCTAssertEqual(m.perTurn[2], EvalReport.Tally(sum: 0, scored: 0, unscored: 1))
        XCTAssertEqual(m.overall.mean, 7)
        XCTAssertEqual(m.perCategory["math"]?.unscored, 1)
        XCTAssertTrue(report.markdown.contains("| 7 | 2 | 1 | 0 | 5 | – (1 unscored) | 9 |"), report.markdown)
        XCTAssertTrue(report.html.contains("data-chart=\"per-turn\""))
    }

    func testJudgeSamplesAreAveragedWithTheirSpread() async throws {
        let calls = Locked(0)
        let models = Models { _ in
            calls.withLock {
                $0 += 1
                return $0 % 2 == 0 ? "[[8]]" : "[[6]]"
            }
        }
        let one = #"{"id": "s2", "category": "writing", "turns": ["Write a haiku."]}"#
        let (_, out) = try await runSynth(
            try config(#", "eval": {"judge_samples": 2}"#), seeds: [one], backends: ["m": models])
        let report = try EvalReport.load(runs: [out])
        XCTAssertEqual(report.models.first?.overall.mean, 7)
        XCTAssertEqual(report.models.first?.sampleSpread, 1)
    }

    func testAFailedJudgeFailsTheSessionInsteadOfScoringIt() async throws {
        let models = Models { _ in "[[7]]" }
        let broken = #"{"id": "s3", "category": "math", "turns": ["JUDGE DOWN?"]}"#
        let (summary, out) = try await runSynth(try config(), seeds: [broken, session], backends: ["m": models])
        XCTAssertEqual(summary.stats.failed, 1)
        XCTAssertEqual(summary.stats.finished, 1)
        let failure = try XCTUnwrap(try readJSONL(out + "/failures.jsonl").first)
        XCTAssertTrue((failure["reason"] as? String ?? "").contains("judge down"))
        XCTAssertEqual(try EvalReport.load(runs: [out]).models.first?.failedSessions, 1)
    }

    /// Journals written before judgments became eval's records hold `"judge"` lines: a run
    /// interrupted then resumes with its judgments and asks the judge nothing again.
    func testAJournalWithJudgeLinesResumes() async throws {
        let models = Models { _ in "Fine. [[7]]" }
        let (first, out) = try await runSynth(try config(), seeds: [session], backends: ["m": models])
        let rows = try String(contentsOfFile: out + "/dialogues.jsonl", encoding: .utf8)
        // The journal as that version wrote it, cut before the session's end record.
        var legacy: [String] = []
        for line in try String(contentsOfFile: out + "/journal.jsonl", encoding: .utf8).split(separator: "\n") {
            let e = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if e["t"] as? String == "end" { continue }
            guard e["t"] as? String == "rec", let r = e["r"] else {
                legacy.append(String(line))
                continue
            }
            let judge: [String: Any] = ["t": "judge", "d": e["d"]!, "j": r]
            // Each twice: a repeated line must count once.
            let text = String(decoding: try JSONSerialization.data(withJSONObject: judge), as: UTF8.self)
            legacy += [text, text]
        }
        XCTAssertEqual(legacy.filter { $0.contains(#""t":"judge""#) }.count, 6)
        try (legacy.joined(separator: "\n") + "\n").write(
            toFile: out + "/journal.jsonl", atomically: true, encoding: .utf8)
        try "".write(toFile: out + "/dialogues.jsonl", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: out + "/summary.json")
        let judged = models.judgePrompts.withLock { $0.count }
        let resumed = try await Runner(
            engine: try Engine(config: try config(), backends: ["m": models]),
            seedsPath: (out as NSString).deletingLastPathComponent + "/seeds.jsonl", outputDir: out
        ).run()
        XCTAssertEqual(models.judgePrompts.withLock { $0.count }, judged, "no turn judged twice")
        XCTAssertEqual(resumed.stats.judgedTurns, first.stats.judgedTurns)
        XCTAssertEqual(try String(contentsOfFile: out + "/dialogues.jsonl", encoding: .utf8), rows)
    }

    func answered(_ id: String, _ answers: [String], model: String) -> String {
        let turns = ["Pick a colour.", "Why that one?"]
        var conv: [[String: String]] = []
        for (q, a) in zip(turns, answers) { conv += [["from": "human", "value": q], ["from": "gpt", "value": a]] }
        let data = try! JSONSerialization.data(withJSONObject: [
            "id": id, "conversations": conv, "meta": ["model": model, "category": "writing"],
        ])
        return String(decoding: data, as: UTF8.self)
    }

    func testPairwiseSwapsPositionsAndCountsOnlyAgreement() async throws {
        // Sessions of two candidates, joined as `parley eval --answers A B` does.
        let a = answered("p1", ["Blue.", "It is calm."], model: "alpha")
        let b = answered("p1", ["Red!", "Because."], model: "beta")
        let session = #"{"id": "p1", "category": "writing", "a": \#(a), "b": \#(b)}"#
        // A judge that always prefers whatever is shown first: both orders disagree.
        let biased = Models { _ in "The first is better. [[A]]" }
        let (s1, out1) = try await runSynth(
            try config(#", "eval": {"mode": "pairwise"}"#), seeds: [session], backends: ["m": biased])
        XCTAssertEqual(s1.stats.judgedTurns, 2)
        let p1 = try XCTUnwrap(try EvalReport.load(runs: [out1]).pairwise.first)
        XCTAssertEqual([p1.a, p1.b], ["alpha", "beta"])
        XCTAssertEqual(p1.inconsistent, 2)
        XCTAssertEqual(p1.inconsistencyRate, 1)
        // Counted as ties when configured so.
        let (_, out2) = try await runSynth(
            try config(#", "eval": {"mode": "pairwise", "inconsistent": "tie"}"#), seeds: [session],
            backends: ["m": biased])
        XCTAssertEqual(try EvalReport.load(runs: [out2]).pairwise.first?.ties, 2)
        // A judge that prefers "Blue."/"It is calm." wherever they are shown: A wins both turns.
        let fair = Models { body in
            let firstShown =
                body.range(of: "Conversation with assistant B:").map { String(body[..<$0.lowerBound]) } ?? body
            return firstShown.contains("Blue.") ? "[[A]]" : "[[B]]"
        }
        let (_, out3) = try await runSynth(
            try config(#", "eval": {"mode": "pairwise"}"#), seeds: [session], backends: ["m": fair])
        let p3 = try XCTUnwrap(try EvalReport.load(runs: [out3]).pairwise.first)
        XCTAssertEqual([p3.wins, p3.losses, p3.ties, p3.inconsistent], [2, 0, 0, 0])
        let orders = fair.judgePrompts.withLock { $0 }.filter { $0.contains("turn 2 of 2") }
        XCTAssertEqual(orders.count, 2)
        XCTAssertTrue(
            orders.contains { $0.hasPrefix("Conversation with assistant A:\nUser: Pick a colour.\n\nAssistant: Blue.") }
        )
        XCTAssertTrue(
            orders.contains { $0.hasPrefix("Conversation with assistant A:\nUser: Pick a colour.\n\nAssistant: Red!") })
    }

    /// A judge that answers in JSON only where a schema was sent, and records the request's params.
    final class SchemaJudge: Backend, @unchecked Sendable {
        let params = Locked<[[String: JSONValue]]>([])
        var tokenCounter: any TokenCounter { EstimatingTokenCounter() }
        func generate(_ r: GenerationRequest) async throws -> GenerationResult {
            guard r.role == "judge" else { return GenerationResult(text: "Answer \(r.messageIndex).") }
            params.withLock { $0.append(r.params) }
            let constrained = r.params["response_format"] != nil || r.params["json_schema"] != nil
            // Turn 2's answers ignore the schema, as a server without structured output would.
            let text =
                constrained && !"\(r.prompt)".contains("turn 2 of")
                ? #"{"explanation": "Correct.", "rating": 8}"# : "Correct. [[6]]"
            return GenerationResult(text: text)
        }
    }

    func testStructuredVerdictsAreAskedForReadAndCountedApart() async throws {
        let judge = SchemaJudge()
        let (summary, out) = try await runSynth(
            try config(#", "eval": {"structured": true}"#),
            seeds: [#"{"id": "s", "turns": ["Hi?", "And then?"]}"#], backends: ["m": judge])
        XCTAssertEqual(summary.stats.judgedTurns, 2)
        let sent = try XCTUnwrap(judge.params.withLock { $0 }.first)
        XCTAssertEqual(
            sent["response_format"],
            ["type": "json_schema", "json_schema": ["name": "verdict", "schema": StructuredVerdict.ratingSchema]])
        let row = try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first)
        let judgments = try XCTUnwrap((row["meta"] as? [String: Any])?["judgments"] as? [[String: Any]])
        XCTAssertEqual(judgments.map { $0["score"] as? Double }, [8, 6])
        XCTAssertEqual(judgments.map { $0["structured"] as? Bool }, [true, false])
        XCTAssertEqual(try EvalReport.load(runs: [out]).models.first?.structured, 1)
        // Without the option: no schema, no field.
        let plain = SchemaJudge()
        let (_, out2) = try await runSynth(
            try config(), seeds: [#"{"id": "s", "turns": ["Hi?"]}"#], backends: ["m": plain])
        XCTAssertTrue(plain.params.withLock { $0 }.allSatisfy { $0["response_format"] == nil })
        let row2 = try XCTUnwrap(try readJSONL(out2 + "/dialogues.jsonl").first)
        let j2 = try XCTUnwrap(((row2["meta"] as? [String: Any])?["judgments"] as? [[String: Any]])?.first)
        XCTAssertNil(j2["structured"])
        XCTAssertEqual(j2["score"] as? Double, 6)
    }

    func testStructuredVerdictReading() {
        XCTAssertEqual(StructuredVerdict.rating(#" {"explanation": "ok", "rating": 7}"#), 7)
        XCTAssertNil(StructuredVerdict.rating(#"{"rating": 11}"#))
        XCTAssertNil(StructuredVerdict.rating(#"{"rating": 6.5}"#), "the schema asks for an integer")
        XCTAssertNil(StructuredVerdict.rating("Rating: [[7]]"))
        XCTAssertEqual(StructuredVerdict.preference(#"{"explanation": "", "verdict": "C"}"#), .tie)
        XCTAssertNil(StructuredVerdict.preference(#"{"verdict": "D"}"#))
        XCTAssertEqual(
            StructuredOutput.params(StructuredVerdict.preferenceSchema, chat: false),
            ["json_schema": StructuredVerdict.preferenceSchema])
    }

    func testMTBenchQuestionFilesLoadAsTheyAre() async throws {
        let mtbench =
            #"{"question_id": 81, "category": "writing", "turns": ["Compose a travel blog post.", "Rewrite it "#
            + #"starting every sentence with A."]}"#
        let (summary, out) = try await runSynth(
            try config(), seeds: [mtbench], backends: ["m": Models { _ in "[[4]]" }])
        XCTAssertEqual(summary.stats.finished, 1)
        XCTAssertEqual(try readJSONL(out + "/dialogues.jsonl").first?["id"] as? String, "81")
    }
}
