import XCTest

@testable import Parley

/// Recipe records: one schema each, a flat JSON object named by its "kind", read back as written.
final class RecipeRecordTests: XCTestCase {
    func testEachRecordReadsBackAsWritten() throws {
        let referent = CaPORecord.Referent(turn: 1, text: "Dune?")
        let records: [any RecipeRecord] = [
            CaPORecord.selection(.init(turn: 2, cue: "short follow-up", selected: false, confirmed: false)),
            CaPORecord.pair(.init(turn: 2, strategy: "misunderstanding", referent: referent, rejected: "No.")),
            ExpertRecord.identity(text: "You are a botanist."),
            ExpertRecord.cleaning(turn: 1, removed: "As a botanist, "),
            SelfTalkRecord.step(.init(turn: 3, node: "refund", choice: .edge(2), raw: "2")),
            SelfTalkRecord.step(.init(turn: 4, choice: .noneOfTheAbove, raw: "3")),
            SelfTalkRecord.stage(.init(turn: 1, stage: nil, raw: "hmm")),
        ]
        for r in records { try assertReadsBack(r) }
    }

    private func assertReadsBack<R: RecipeRecord>(_ r: R) throws {
        let json = try JSONValue(encoding: r)
        XCTAssertEqual(json.objectValue?["kind"]?.stringValue, r.tally.kind, json.canonicalText)
        XCTAssertEqual(try JSONValue(encoding: json.decode(R.self)), json, "read back as written")
    }

    func testOptionalFieldsAreWrittenAsNullSoEveryRowHasTheSameKeys() throws {
        let pair = CaPORecord.pair(.init(turn: 2, strategy: "neglect", rejected: "Sure."))
        XCTAssertEqual(
            try JSONValue(encoding: pair).canonicalText,
            #"{"dropped":null,"guess":null,"kind":"pair","referent":null,"rejected":"Sure.","#
                + #""strategy":"neglect","turn":2}"#)
        let start = SelfTalkRecord.step(.init(turn: 1, node: nil, choice: .start))
        XCTAssertEqual(
            try JSONValue(encoding: start).canonicalText,
            #"{"choice":"start","kind":"step","node":null,"turn":1}"#)
    }

    func testARecordOfAnotherKindIsAnErrorNamingIt() {
        let json: JSONValue = .object(["kind": "tally", "words": .number(3)])
        XCTAssertThrowsError(try json.decode(CaPORecord.self)) { error in
            XCTAssertTrue("\(error)".contains("no record of kind \"tally\""), "\(error)")
        }
    }

    func testTalliesCountOutcomesAndTokens() {
        var d = Dialogue(seed: Seed(id: "a"))
        d.status = .finished
        d.records = [
            CaPORecord.selection(.init(turn: 2, cue: "it", selected: true)),
            CaPORecord.pair(
                .init(turn: 2, strategy: "neglect", dropped: "empty", promptTokens: 5, completionTokens: 7)),
        ].compactMap { try? JSONValue(encoding: $0) }
        var stats = RunStats()
        stats.add(d, records: CaPORecord.self)
        XCTAssertEqual(stats.records, ["select": 1, "pair": 1, "pair_dropped": 1])
        XCTAssertEqual(stats.promptTokens, 5)
        XCTAssertEqual(stats.completionTokens, 7)
    }
}
