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

    /// Every string `JSONWriter` quotes reads back the same, whatever falls on the eight-byte steps of
    /// its scan: each special byte at each place in strings of 0–20 bytes, and two of them in one.
    func testQuotedStringsReadBackWhole() throws {
        let specials = ["\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{1F}", "é", "😀", " ", "/", "\u{7F}"]
        for length in 0...20 {
            for special in specials {
                for at in 0...length {
                    var parts = Array(repeating: "a", count: length)
                    parts.insert(special, at: at)
                    for text in [parts.joined(), parts.joined() + "\"" + parts.joined()] {
                        var w = JSONWriter()
                        w.string(text)
                        XCTAssertEqual(try JSONDecoder().decode(String.self, from: Data(w.bytes)), text)
                        XCTAssertEqual(try JSONParser.parse(utf8: w.bytes), .string(text))
                    }
                }
            }
        }
        // Escapes that outgrow the writer's buffer (512 bytes at first): six bytes each, or two.
        for text in [String(repeating: "\u{1}", count: 1000), String(repeating: "a\n", count: 700) + "\""] {
            var w = JSONWriter()
            w.string(text)
            XCTAssertEqual(try JSONParser.parse(utf8: w.bytes), .string(text))
        }
    }

    /// Integers up to 15 digits are read by hand, longer ones and fractions by `Double(String)`.
    func testNumbersReadByHandEqualTheOthers() throws {
        let texts = [
            "0", "-0", "7", "-42", "123456789012345", "-123456789012345", "1234567890123456789", "0.5", "-1e2",
        ]
        for text in texts {
            XCTAssertEqual(try JSONValue.parse(text), .number(Double(text)!), text)
        }
        guard case .number(let negativeZero) = try JSONValue.parse("-0") else { return XCTFail("not a number") }
        XCTAssertEqual(negativeZero.sign, .minus)
    }

    /// Integers are written digit by digit, without `String(n)`: each reads as `String(n)` does.
    func testIntegersAreWrittenAsTheirDecimalText() {
        let values = [0, 7, 9, 10, 99, 100, -1, -9, -10, 1_234_567_890, Int.max, Int.min, Int.min + 1]
        for n in values {
            var w = JSONWriter()
            w.int(n)
            XCTAssertEqual(w.text, String(n))
        }
        for d in [0.0, -0.0, 42.0, -123456789012345.0, 0.25, 1e15, -2.5e-7] {
            var w = JSONWriter()
            w.double(d)
            XCTAssertEqual(w.text, JSONWriter.integer(d).map { String($0) } ?? String(d), "\(d)")
        }
    }

    /// Decimals of up to three places take a shorter path than `String(d)`, and read as it does; others go
    /// through `String(d)`.
    func testDecimalsAreWrittenAsStringWritesThem() {
        var values = [
            0.7, 0.95, 1.5, -0.5, 0.001, -0.001, 0.1, 0.2, 0.3, 12.25, 999_999_999.5, 0.0009, 1e-5, 1e9 + 0.5,
        ]
        values += [0.1 + 0.2, 1.0 / 3, 2.675, 0.125, 100.01, -123.456, 5e-324, .pi, 0.999, 1.001]
        var rng = SplitMix64(seed: 7)
        for _ in 0..<20_000 { values.append(Double(Int.random(in: -2_000_000...2_000_000, using: &rng)) / 1000) }
        for _ in 0..<2_000 { values.append(Double.random(in: -1000...1000, using: &rng)) }
        for d in values where JSONWriter.integer(d) == nil {
            var w = JSONWriter()
            w.double(d)
            XCTAssertEqual(w.text, String(d), "\(d)")
        }
        XCTAssertEqual(JSONWriter.thousandths(0.7), 700)
        XCTAssertNil(JSONWriter.thousandths(0.0009), "four places")
        XCTAssertNil(JSONWriter.thousandths(1.0 / 3))
    }

    /// A string without escapes is made straight from the bytes: only its UTF-8 is checked.
    func testAStringThatIsNotUTF8IsRefusedWithOrWithoutEscapes() {
        for bytes: [UInt8] in [[0x22, 0x61, 0xFF, 0x62, 0x22], [0x22, 0x5C, 0x6E, 0xC3, 0x22]] {
            XCTAssertThrowsError(try JSONParser.parse(utf8: bytes)) {
                XCTAssertTrue("\($0)".contains("not UTF-8"), "\($0)")
            }
        }
        XCTAssertEqual(try JSONParser.parse(utf8: Array("\"é\\n\"".utf8)), .string("é\n"))
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

    /// A row's `meta.generation` entry has every key, null where absent, and all null for a message
    /// nobody generated (a seed's, the system prompt's): one schema for dataset loaders.
    func testGenerationRecordsHaveEveryKey() {
        func written(_ t: TurnMeta?) -> String {
            var w = JSONWriter()
            HotPathJSON.turnMeta(t, into: &w)
            return w.text
        }
        XCTAssertEqual(
            written(nil),
            #"{"role":null,"model":null,"prompt_tokens":null,"completion_tokens":null,"latency_ms":null,"#
                + #""finish_reason":null,"attempts":null}"#)
        XCTAssertEqual(
            written(TurnMeta(role: "asker")),
            #"{"role":"asker","model":null,"prompt_tokens":null,"completion_tokens":null,"latency_ms":null,"#
                + #""finish_reason":null,"attempts":1}"#)
        XCTAssertEqual(
            written(
                TurnMeta(
                    role: "a", model: "m", promptTokens: 3, completionTokens: 4, latencyMs: 5, finishReason: "stop",
                    attempts: 2)),
            #"{"role":"a","model":"m","prompt_tokens":3,"completion_tokens":4,"latency_ms":5,"#
                + #""finish_reason":"stop","attempts":2}"#)
    }

    /// `HotPathJSON.message` is the hand-written twin of `Message`'s `Codable` schema: the same bytes.
    func testHandWrittenMessagesEqualTheirCodableSchema() throws {
        let messages = [
            Message(.system, "Be brief."),
            Message(.user, "Given, \"quoted\"\nover two lines"),
            Message(.assistant, "é ✓ \u{1}", meta: TurnMeta(role: "assistant")),
            Message(
                .assistant, "All known.",
                meta: TurnMeta(
                    role: "asker", model: "m", promptTokens: 3, completionTokens: 4, latencyMs: 5,
                    finishReason: "length", attempts: 2)),
        ]
        for m in messages {
            var hand = JSONWriter()
            HotPathJSON.message(m, into: &hand)
            var codable = JSONWriter()
            try codable.encode(m)
            XCTAssertEqual(hand.text, codable.text)
            XCTAssertEqual(try JSONDecoder().decode(Message.self, from: Data(hand.bytes)), m)
        }
    }

    /// `JSONWriter.encode` keeps a type's key order and writes `Nullable` fields as null.
    func testEncodingKeepsTheSchemasOrder() throws {
        var j = Judgment(turn: 2)
        j.samples = [7, 7.5]
        j.score = 7.25
        j.raw = ["[[7]]"]
        j.structured = true
        var w = JSONWriter()
        try w.encode(j)
        XCTAssertEqual(
            w.text,
            #"{"turn":2,"score":7.25,"samples":[7,7.5],"verdict":null,"orders":[],"raw":["[[7]]"],"requests":0,"#
                + #""seed":0,"model":null,"prompt_tokens":0,"completion_tokens":0,"structured":true}"#)
        XCTAssertEqual(try JSONDecoder().decode(Judgment.self, from: Data(w.bytes)), j)
    }

    /// The writer grows its buffer as a document outgrows it: long strings and many small writes read back.
    func testLongDocumentsReadBackWhole() throws {
        let long = String(repeating: "ab\"c\\é\n", count: 20_000)
        let items = (0..<5_000).map { JSONValue.object(["n": .number(Double($0)), "s": .string("x\($0)")]) }
        let original = JSONValue.object(["long": .string(long), "items": .array(items), "empty": .string("")])
        var w = JSONWriter()
        w.value(original)
        XCTAssertEqual(try JSONParser.parse(utf8: w.bytes), original)
        let line = w.line()
        XCTAssertEqual(line.last, 0x0A)
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
