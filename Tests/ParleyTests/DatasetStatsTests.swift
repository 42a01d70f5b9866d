import XCTest

@testable import Parley

/// Dataset shapes, statistics on hand-computed fixtures, reports and exports.
final class DatasetStatsTests: XCTestCase {
    let dialogues: [[Message]] = [
        [
            Message(.system, "Be brief."), Message(.user, "What is a tide?"), Message(.assistant, "A rise of the sea."),
            Message(.user, "Why?"), Message(.assistant, "The moon pulls it."),
        ],
        [Message(.user, "Name three rivers."), Message(.assistant, "Nile, Amazon, Yangtze.")],
        [
            Message(.user, "How do bees make honey?"), Message(.assistant, "From nectar."),
            Message(.user, "Recommend a pasta recipe for dinner tonight."), Message(.assistant, "Try carbonara."),
            Message(.user, "What about a vegetarian one?"), Message(.assistant, "Pasta primavera."),
        ],
    ]

    func testHistogramMedianAndNearestRankPercentile() {
        var h = Histogram()
        for v in [1, 2, 2, 3, 10] { h.add(v) }
        XCTAssertEqual(h.mean, 3.6)
        XCTAssertEqual(h.median, 2)
        XCTAssertEqual(h.percentile(0.9), 10)
        h.add(4)  // 1 2 2 3 4 10: median (2 + 3) / 2; p90 rank ⌈5.4⌉ = 6 → 10
        XCTAssertEqual(h.median, 2.5)
        XCTAssertEqual(h.percentile(0.9), 10)
        XCTAssertEqual(h.percentile(0.5), 2)
        XCTAssertEqual(h.binned([0, 3, 5]), [3, 2, 1])
    }

    func testStatisticsByHand() {
        var stats = DatasetStats(name: "t", path: "t")
        for d in dialogues { stats.add(d) }
        let s = DatasetSummary(&stats)
        XCTAssertEqual(s.dialogues, 3)
        XCTAssertEqual(s.turnHistogram, [2: 1, 1: 1, 3: 1])
        XCTAssertEqual(s.turns.mean, 2)
        XCTAssertEqual(s.turns.median, 2)
        XCTAssertEqual(s.turns.p90, 3)
        // User turns: 4, 1, 3, 5, 7, 5 words → mean 25/6, sorted 1 3 4 5 5 7: median 4.5, p90 7.
        XCTAssertEqual(s.userWords.mean, 25.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(s.userWords.median, 4.5)
        XCTAssertEqual(s.userWords.p90, 7)
        // Assistant turns: 5, 4, 3, 2, 2, 2 → mean 3; dialogues (system left out): 14, 6, 23.
        XCTAssertEqual(s.assistantWords.mean, 3)
        XCTAssertEqual(s.dialogueWords.mean, 43.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s.dialogueWords.median, 14)
        // Follow-ups: "Why?" (short), "Recommend a pasta…" (self-contained, new topic), "What about…" (opener).
        XCTAssertEqual(s.contextDependentPerDialogue, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s.contextDependentShare, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s.topicShiftsPerDialogue, 1.0 / 3, accuracy: 1e-12)
        // distinct-1: 25 user tokens; "what" twice, "a" three times → 25 − 1 − 2 = 22 distinct.
        XCTAssertEqual(s.distinct1, 22.0 / 25, accuracy: 1e-12)
        // distinct-2: 25 − 6 turns = 19 bigrams, all different.
        XCTAssertEqual(s.distinct2, 1)
        // Self-ROUGE over all 6 user turns (no row says which came from a seed): 15 pairs, ROUGE-L
        // F = 2·LCS / (m + n): "what is a tide" / "recommend a pasta recipe …" 2/11, / "what about a
        // vegetarian one" (LCS "what a") 4/9, and those two 2/12; every other pair 0.
        XCTAssertEqual(s.selfRouge.items, 6)
        XCTAssertEqual(s.selfRouge.pairs, 15)
        XCTAssertEqual(try XCTUnwrap(s.selfRouge.mean), (2.0 / 11 + 4.0 / 9 + 2.0 / 12) / 15, accuracy: 1e-12)
        // MTLD per question (lexicalrichness): no question repeats a word, so each scores its length.
        XCTAssertEqual(s.questionMTLDCount, 6)
        XCTAssertEqual(try XCTUnwrap(s.questionMTLD), 25.0 / 6, accuracy: 1e-12)
        // Whole dialogues, 43 tokens in 12 messages: "a" ×4, "what" ×2, "the" ×2, "pasta" ×2 → 37 distinct;
        // 31 bigrams, all different.
        XCTAssertEqual(s.dialogueDistinct1, 37.0 / 43, accuracy: 1e-12)
        XCTAssertEqual(s.dialogueDistinct2, 1)
        XCTAssertEqual(s.dialogueROUGE.items, 3)
    }

    func testLexicalRichnessTokensAndMTLD() throws {
        XCTAssertEqual(
            LexicalRichness.words("Well-known e-mail: it's 2024's “best”—Café\tCAFÉ\u{1F}end"),
            ["wellknown", "email", "it", "s", "s", "“best”café", "café", "end"])
        // No repeated word: MTLD = the length (the package's fallback factor of 1).
        XCTAssertEqual(LexicalRichness.mtld(LexicalRichness.words("What is the capital of France?")), 6)
        XCTAssertNil(LexicalRichness.mtld([]))
        // "the the the the": forward, TTR 1/2 ≤ 0.72 closes a factor at every 2nd word: 4 / 2 = 2 both ways.
        XCTAssertEqual(LexicalRichness.mtld(["the", "the", "the", "the"]), 2)
        // "a b a": TTR 1, 1, 2/3 → one factor, nothing left: 3 / 1 both ways.
        XCTAssertEqual(LexicalRichness.mtld(["a", "b", "a"]), 3)
        // "a b c a": TTR 1, 1, 1, 3/4 > 0.72 → partial (1 − 0.75)/0.28: 4 / 0.892857… both ways.
        XCTAssertEqual(try XCTUnwrap(LexicalRichness.mtld(["a", "b", "c", "a"])), 4 / (0.25 / 0.28), accuracy: 1e-12)
    }

    func testDialogueDiversityIsOneMinusPairwiseROUGE() {
        var stats = DatasetStats(name: "t", path: "t")
        stats.add([Message(.user, "a b"), Message(.assistant, "c d")])
        stats.add([Message(.user, "a x"), Message(.assistant, "y d")])
        let s = DatasetSummary(&stats)
        // "a b c d" / "a x y d": LCS "a d" = 2 → F 2·2/8 = 0.5, the only pair.
        XCTAssertEqual(s.dialogueROUGE.pairs, 1)
        XCTAssertEqual(s.dialogueROUGE.mean, 0.5)
    }

    func testSelfRougeLeavesOutTheTurnsSeedsGave() throws {
        // Each dialogue opened by the same seed question; the simulator wrote the rest.
        let rows = ["Is it far?", "How far is it?", "Why so far?"].map { followUp in
            DatasetRow(
                messages: [
                    Message(.user, "What is the distance to the moon?"), Message(.assistant, "About 384,000 km."),
                    Message(.user, followUp), Message(.assistant, "Yes."),
                ], seedMessages: 2)
        }
        var generated = DatasetStats(name: "g", path: "g")
        var withSeeds = DatasetStats(name: "s", path: "s", includeSeeds: true)
        for row in rows {
            generated.add(row)
            withSeeds.add(row)
        }
        let g = DatasetSummary(&generated)
        // "is it far" / "how far is it": LCS 2 ("is it"), F 4/7; "is it far" / "why so far": 2/6;
        // "how far is it" / "why so far": 2/7.
        XCTAssertEqual(g.selfRouge.items, 3)
        XCTAssertEqual(try XCTUnwrap(g.selfRouge.mean), (4.0 / 7 + 2.0 / 6 + 2.0 / 7) / 3, accuracy: 1e-12)
        // MTLD per question: no word repeated, so each scores its length: 3, 4, 3.
        XCTAssertEqual(g.questionMTLDCount, 3)
        XCTAssertEqual(try XCTUnwrap(g.questionMTLD), 10.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(generated.sampledQuestions().sorted(), ["How far is it?", "Is it far?", "Why so far?"])
        let s = DatasetSummary(&withSeeds)
        XCTAssertEqual(s.questionMTLDCount, 6)
        // The seed question repeats "the": TTR ends at 6/7 both ways, no full factor → 7 / ((1 − 6/7) / 0.28).
        let seed = 7 / ((1 - 6.0 / 7) / 0.28)
        XCTAssertEqual(try XCTUnwrap(s.questionMTLD), (10 + 3 * seed) / 6, accuracy: 1e-12)
        XCTAssertEqual(s.selfRouge.items, 6, "the three seed turns too")
        // Plus the 3 identical seed pairs (1 each) and each seed ("what is the distance to the moon")
        // against "is it far" (2/10) and "how far is it" (2/11): 15 pairs.
        let seedPairs = 3 + 3 * (2.0 / 10 + 2.0 / 11)
        XCTAssertEqual(try XCTUnwrap(s.selfRouge.mean), (seedPairs + 4.0 / 7 + 2.0 / 6 + 2.0 / 7) / 15, accuracy: 1e-12)
    }

    func testParleysRowsSayWhichMessagesTheSeedGave() throws {
        let path = tempDir() + "/d.jsonl"
        let parley =
            #"{"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q?"}, "#
            + #"{"from": "gpt", "value": "A."}, {"from": "human", "value": "Why?"}, {"from": "gpt", "value": "B."}], "#
            + #""meta": {"generation": [{"role": null}, {"role": null}, {"role": "assistant"}, {"role": "asker"}, "#
            + #"{"role": "assistant"}]}}"#
        let other = #"{"conversations": [{"from": "human", "value": "Q?"}]}"#
        try (parley + "\n" + other + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let reader = try DatasetReader(path: path, shape: .sharegpt)
        XCTAssertEqual(reader.next()?.seedMessages, 2, "the system prompt and the seed's question")
        XCTAssertEqual(reader.next()?.seedMessages, 0, "a row without meta.generation counts whole")
    }

    func testEveryShapeRoundTrips() throws {
        let dir = tempDir()
        for shape in DatasetShape.allCases {
            let path = dir + "/\(shape.rawValue).jsonl"
            let rows = dialogues.enumerated().map { shape.row(id: "d\($0.offset)", messages: $0.element) }
            _ = FileManager.default.createFile(atPath: path, contents: Data(rows.joined()))
            let reader = try DatasetReader(path: path)
            var read: [[Message]] = []
            while let row = reader.next() { read.append(row.messages) }
            XCTAssertEqual(reader.shape, shape)
            let expected =
                shape == .ultrachat || shape == .baize
                ? dialogues.map { $0.filter { $0.speaker != .system } } : dialogues
            XCTAssertEqual(read, expected, "\(shape)")
        }
    }

    func testBaizeTranscriptsAndJSONArrays() throws {
        let path = tempDir() + "/baize.json"
        let text =
            #"[{"topic": "t", "input": "The conversation between human and AI assistant.\n[|Human|] Hi there\n[|AI|] "#
            + #"Hello!\n[|Human|] Bye\n[|AI|] See you.\n[|Human|] "}, 7, {"input": "no markers"}]"#
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let reader = try DatasetReader(path: path)
        XCTAssertEqual(
            reader.next()?.messages,
            [
                Message(.user, "Hi there"), Message(.assistant, "Hello!"), Message(.user, "Bye"),
                Message(.assistant, "See you."),
            ])
        XCTAssertNil(reader.next())
        XCTAssertEqual(reader.skipped, 2)
    }

    func testAskerExport() {
        let swapped = AskerExport.swapped(dialogues[0], system: "S", opening: "Go.")
        XCTAssertEqual(
            swapped,
            [
                Message(.system, "S"), Message(.user, "Go."), Message(.assistant, "What is a tide?"),
                Message(.user, "A rise of the sea."), Message(.assistant, "Why?"),
            ])
        let row = String(decoding: AskerExport.maskedRow(id: "x", messages: dialogues[1]), as: UTF8.self)
        XCTAssertEqual(
            row,
            #"{"id":"x","messages":[{"role":"user","content":"Name three "#
                + #"rivers.","training":true},{"role":"assistant","content":"Nile, Amazon, "#
                + #"Yangtze.","training":false}]}"#
                + "\n")
    }

    func testReportsShowEveryDataset() throws {
        var a = DatasetStats(name: "A <ours>", path: "a")
        var b = DatasetStats(name: "B", path: "b")
        for d in dialogues { a.add(d) }
        b.add(dialogues[1])
        let sets = [DatasetSummary(&a), DatasetSummary(&b)]
        let md = StatsReport.markdown(sets)
        XCTAssertTrue(md.hasPrefix("| | A <ours> | B |\n|---|---:|---:|\n"))
        XCTAssertTrue(md.contains("| turns per dialogue (mean / median / p90) | 2 / 2 / 3 | 1 / 1 / 1 |"))
        let json = try JSONValue.parse(StatsReport.json(sets, sample: 1000))
        guard case .object(let top) = json, case .array(let items)? = top["datasets"] else { return XCTFail("shape") }
        XCTAssertEqual(items.count, 2)
        let html = HTMLReport.render(sets)
        XCTAssertTrue(html.contains("A &lt;ours&gt;"))
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 3 + 6)
        XCTAssertFalse(html.contains("<script"))
    }
}
