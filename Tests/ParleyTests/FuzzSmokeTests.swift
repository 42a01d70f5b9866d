import Foundation
import XCTest

@_spi(Fuzzing) @testable import Parley

/// A short, deterministic smoke of the fuzz harnesses' promises (`scripts/fuzz` runs the real
/// thing under libFuzzer): every corpus input of Tests/fuzz/corpus, and mutations of it —
/// bytes flipped, cuts, lines repeated or dropped, bytes spliced in.
final class FuzzSmokeTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../fuzz/corpus").standardized.path
    /// Mutations per harness, spread over its corpus (hand-written inputs and what libFuzzer kept).
    let mutations = 2_000

    func testConfigParser() throws { try smoke("config") { Fuzzing.config($0) } }
    func testJSONParser() throws { try smoke("json") { Fuzzing.json($0) } }

    func testSeedsReader() throws { try smoke("seeds") { Fuzzing.seeds($0) } }
    func testJournalReplay() throws { try smoke("journal") { Fuzzing.journal($0) } }

    /// libFuzzer's find: a flipped byte merged two end records into one line with two "d" keys,
    /// and the replay ended the first while the line also named the second (corpus: duplicate-dialogue-key).
    func testALineWithTwoEqualKeysIsNotARecord() {
        XCTAssertFalse(JournalReplay.topLevelKeysAreUnique(#"{"t":"end","d":"a","x":{"d":1},"d":"b"}"#))
        XCTAssertTrue(JournalReplay.topLevelKeysAreUnique(#"{"t":"end","d":"a","m":{"d":"\"d\"","d2":[{"d":1}]}}"#))
        XCTAssertTrue(JournalReplay.topLevelKeysAreUnique(#"{"t":"msg","d":"a, \"d\": b"}"#), "inside a string")
    }

    func testANegativeCountIsNotARecord() throws {
        let path = tempDir() + "/journal.jsonl"
        let lines = [
            #"{"t":"start","d":"a","seed":{"id":"a","line":1},"messages":[{"role":"user","content":"Hi?"}]}"#,
            #"{"t":"end","d":"a","status":"finished","reason":"max_turns","kept":-2,"sizes":{}}"#,
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try JournalReplay.read(path: path, records: nil)) {
            XCTAssertTrue("\($0)".contains("journal line 2 is not a journal record"), "\($0)")
        }
    }

    private func smoke(_ kind: String, _ check: ([UInt8]) -> String?) throws {
        let dir = Self.corpus + "/" + kind
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertFalse(names.isEmpty, "no corpus in \(dir)")
        var rng = SplitMix64(seed: 0x5EED)
        let perInput = max(1, mutations / names.count)
        for name in names {
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
            XCTAssertNil(check(original), "\(kind)/\(name)")
            for i in 0..<perInput {
                let input = Self.mutate(original, &rng)
                if let broken = check(input) {
                    XCTFail(
                        "\(kind)/\(name) mutation \(i): \(broken)\ninput: "
                            + "\(String(decoding: input.prefix(300), as: UTF8.self))"
                    )
                    return
                }
            }
        }
    }

    static let punctuation = Array(#"{}[]",:\0123456789eE-+.tfn"#.utf8)

    static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = bytes
        for _ in 0..<(1 + Int(rng.next() % 4)) {
            let at = b.isEmpty ? 0 : Int(rng.next() % UInt64(b.count))
            switch rng.next() % 6 {
            case 0: if !b.isEmpty { b[at] ^= UInt8(1 << (rng.next() % 8)) }  // a bit flip
            case 1: b = Array(b.prefix(at))  // a cut, as a crash leaves it
            case 2: if !b.isEmpty { b[at] = punctuation[Int(rng.next() % UInt64(punctuation.count))] }
            case 3: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)  // any byte, invalid UTF-8 too
            default:  // a line repeated, or dropped
                var lines = b.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
                guard lines.count > 1 else { break }
                let i = Int(rng.next() % UInt64(lines.count - 1))
                if rng.next() % 2 == 0 { lines.insert(lines[i], at: i + 1) } else { lines.remove(at: i) }
                b = Array(lines.joined(separator: [0x0A]))
            }
        }
        return b
    }
}
