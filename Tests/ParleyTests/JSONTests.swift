import XCTest

@testable import Parley

final class JSONTests: XCTestCase {
    func testParsesEveryKindOfValue() throws {
        let v = try JSONValue.parse(
            #" {"a": [1, -2.5e3, true, false, null], "s": "q\"\\\/\n\t\u00e9\ud83d\ude00", "o": {}} "#)
        XCTAssertEqual(
            v,
            .object([
                "a": .array([.number(1), .number(-2500), .bool(true), .bool(false), .null]),
                "s": .string("q\"\\/\n\té😀"),
                "o": .object([:]),
            ]))
        XCTAssertEqual(try JSONValue.parse("\"ünïcödé ✓\""), .string("ünïcödé ✓"))
    }

    func testRejectsMalformedTextWithItsPlace() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"abc", "\"a\u{1}b\"", "{} x", "\"\\x\""] {
            XCTAssertThrowsError(try JSONValue.parse(bad), bad) { XCTAssertTrue("\($0)".contains("at byte"), "\($0)") }
        }
    }

    func testNestingIsBounded() {
        XCTAssertThrowsError(try JSONValue.parse(String(repeating: "[", count: 100_000))) {
            XCTAssertTrue("\($0)".contains("nested deeper"), "\($0)")
        }
        XCTAssertNoThrow(try JSONValue.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)))
    }

    func testWriterOutputParsesBack() throws {
        let original = JSONValue.object([
            "k\"ey": .string("line\nbreak \u{7} \u{1F600}"), "n": .number(0.25), "a": .array([.null]),
        ])
        var w = JSONWriter()
        w.value(original)
        XCTAssertEqual(try JSONValue.parse(w.text), original)
    }
}
