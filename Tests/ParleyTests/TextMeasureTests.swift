import XCTest

@testable import Parley

/// Tokens, ROUGE-L, MTLD and the follow-up heuristics against published or hand-computed values.
/// (Tests/e2e/test_stats.py also checks MTLD and Self-ROUGE against the `lexical-diversity`
/// and `rouge-score` packages.)
final class TextMeasureTests: XCTestCase {
    func testWordTokens() {
        XCTAssertEqual(Words.tokens("Don't STOP, don't stop!"), Words.tokens("don't stop don't stop"))
        XCTAssertEqual(Words.count("Don't stop_now, it's 3.5 km — ok?"), 8)  // don't stop now it's 3 5 km ok
        XCTAssertEqual(Words.count("Ça coûte 5€ à Zürich"), 5)
        XCTAssertEqual(Words.count("我喜欢猫 and dogs"), 6)  // each Han ideograph is a token
        XCTAssertEqual(Words.count("'quoted' words"), 2)
        XCTAssertEqual(Words.tokens("STRAßE"), Words.tokens("straße"))
        XCTAssertNotEqual(Words.tokens("Straße"), Words.tokens("strasse"), "lower-casing only, no case folding")
    }

    /// A token hashes a word's bytes eight at a time: words around those lengths, differing only late, and
    /// words whose letters take both the ASCII and the Unicode path each get their own token.
    func testTokensTellWordsApartAtEveryLength() {
        let words = [
            "abcdefg", "abcdefgh", "abcdefghi", "abcdefgh0", "abcdefghabcdefgh", "abcdefghabcdefgi",
            "internationalization", "internationalizatiom", "a", "b", "ab", "ba",
        ]
        XCTAssertEqual(Set(words.map(Words.token)).count, words.count)
        XCTAssertEqual(Words.tokens("CAFÉ au LAIT, façade"), Words.tokens("café AU lait FAÇADE"))
        XCTAssertEqual(Words.tokens("\u{212A}M"), Words.tokens("km"), "the Kelvin sign lower-cases to k")
        XCTAssertEqual(Words.normalizedKey("Hello,   WORLD!"), Words.normalizedKey("hello world"))
        XCTAssertNotEqual(Words.normalizedKey("hello world"), Words.normalizedKey("world hello"))
        XCTAssertNotEqual(Words.normalizedKey("hello world"), Words.normalizedKey("helloworld"))
    }

    /// Unicode's White_Space goes from both ends (ASCII and not, mixed); what is inside, and other scalars at the
    /// ends, stay.
    func testWhitespaceIsTrimmedFromBothEnds() {
        XCTAssertEqual(" \t\u{3000}\u{00A0} a  b\u{2003}\n\u{2028}".trimmingWhitespace(), "a  b")
        XCTAssertEqual("é\u{301} x é".trimmingWhitespace(), "é\u{301} x é")
        XCTAssertEqual(" \u{00A0}\n ".trimmingWhitespace(), "")
        XCTAssertEqual("".trimmingWhitespace(), "")
        XCTAssertEqual(Substring("[ kept ]").dropFirst().dropLast().trimmingWhitespace(), "kept")
    }

    func testRougeLOnLinsExamples() {
        // Lin (2004), §3.1: reference "police killed the gunman".
        XCTAssertEqual(Similarity.rougeL("police killed the gunman", "police kill the gunman"), 0.75, accuracy: 1e-12)
        XCTAssertEqual(Similarity.rougeL("police killed the gunman", "the gunman kill police"), 0.5, accuracy: 1e-12)
        XCTAssertEqual(Similarity.rougeL("a b c", "x y"), 0)
        XCTAssertEqual(Similarity.rougeL("", "x y"), 0)
        // LCS 3 of lengths 4 and 6: P = 3/6, R = 3/4, F = 2PR/(P+R) = 0.6.
        XCTAssertEqual(Similarity.rougeL("a b c d", "a x b y c z"), 0.6, accuracy: 1e-12)
    }

    func testMTLDByHand() throws {
        func mtld(_ text: String) -> Double? { Similarity.mtld(Words.tokens(text)) }
        // Twelve tokens "a b" ×6: the TTR first falls below 0.72 with ≥ 10 tokens at token 10
        // (2/10) → 1 factor; the last stretch "a b" has TTR 1 → partial 0. Both ways: 12 / 1.
        XCTAssertEqual(
            try XCTUnwrap(mtld(Array(repeating: "a b", count: 6).joined(separator: " "))), 12, accuracy: 1e-12)
        // "a b c a": no full factor (fewer than 10 tokens); the whole text ends with TTR 3/4 →
        // partial (1 − 0.75)/(1 − 0.72); both ways the same: 4 / 0.892857….
        XCTAssertEqual(try XCTUnwrap(mtld("a b c a")), 4 / (0.25 / 0.28), accuracy: 1e-9)
        XCTAssertNil(mtld("all different words"), "no factor at all: undefined")
        XCTAssertNil(mtld(""))
    }

    func testContextCues() {
        func cue(_ s: String) -> String? { FollowUps.contextCue(Words.tokens(s)) }
        XCTAssertEqual(cue("Why?"), "short follow-up")
        XCTAssertEqual(cue("What about the second chapter instead?"), "opens with \"what about\"")
        XCTAssertEqual(cue("Can you make those shorter for a child?"), "points back: \"those\"")
        XCTAssertEqual(cue("Can you expand on what you mentioned before?"), "points back: \"you mentioned\"")
        XCTAssertEqual(
            cue("Please shorten the second paragraph for a newsletter."), "points back: \"the second paragraph\"")
        XCTAssertEqual(cue("Could you give me three more examples, please?"), "points back: \"more examples\"")
        XCTAssertEqual(cue("Rewrite it with a friendlier tone, please."), "points back: \"it\"")
        XCTAssertEqual(cue("Elaborate on the costs involved here."), "opens with \"elaborate\"")
        XCTAssertNil(cue("Summarize the rules of chess for a beginner."), "a verb alone is no cue")
        XCTAssertEqual(cue("Why does the last step need a cooling period?"), "opens with \"why\"")
        XCTAssertEqual(cue("Can the last step be done in advance, overnight?"), "points back: \"the last step\"")
        XCTAssertNil(cue("Explain photosynthesis in plants for a student."))
        XCTAssertNil(cue("Who was the first person to climb Mount Everest?"), "an ordinal, but no part of an answer")
        XCTAssertNil(cue("How do volcanoes form under the ocean?"))
    }

    func testTopicShifts() {
        let previous = Words.tokens("How do volcanoes form? Magma rises through cracks in the crust.")
        XCTAssertFalse(FollowUps.shiftsTopic(Words.tokens("Do volcanoes form under oceans too?"), after: previous))
        XCTAssertTrue(FollowUps.shiftsTopic(Words.tokens("Recommend a good pasta recipe for dinner."), after: previous))
    }
}
