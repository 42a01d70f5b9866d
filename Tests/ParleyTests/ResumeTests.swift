import Foundation
import XCTest

@testable import Parley

final class ResumeTests: XCTestCase {
    func config(concurrency: Int = 16) throws -> Config {
        try scriptedConfig(
            backend: #"{"type": "scripted", "latency_ms": 2, "jitter_ms": 2}"#,
            turns: #"{"max": [2, 5]}"#, run: #"{"seed": 3, "concurrency": \#(concurrency)}"#)
    }

    func rows(_ out: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try readJSONL(out + "/dialogues.jsonl") {
            let id = row["id"] as! String
            XCTAssertNil(result[id], "\(id) written twice")
            result[id] = conversation(row).map { "\($0.0):\($0.1)" }.joined(separator: "|")
        }
        return result
    }

    func testInterruptedRunsResumeToTheSameDialogues() async throws {
        let seeds = (1...60).map { #"{"question": "Seed \#($0)?"}"# }
        let (_, reference) = try await runSynth(try config(), seeds: seeds)

        let dir = tempDir()
        let seedsPath = writeSeeds(seeds, in: dir)
        let interruptions = try await runInterrupted(
            { try config() }, seedsPath: seedsPath, out: dir + "/out", after: 40_000_000)
        XCTAssertGreaterThan(interruptions, 0)
        XCTAssertEqual(try rows(dir + "/out"), try rows(reference))

        // No generated message was journaled twice.
        let journal = try readJSONL(dir + "/out/journal.jsonl").filter { $0["t"] as? String == "msg" }
        let keys = journal.map { "\($0["d"]!)#\($0["n"]!)" }
        XCTAssertEqual(keys.count, Set(keys).count)
    }

    func testPartialWritesAfterACrashAreCutAway() async throws {
        let seeds = (1...10).map { #"{"question": "Seed \#($0)?"}"# }
        let (_, out) = try await runSynth(try config(), seeds: seeds)
        let expected = try rows(out)
        // Simulate a crash mid-write: a torn line in the journal and in the dataset.
        for name in ["journal.jsonl", "dialogues.jsonl"] {
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: out + "/" + name))
            try h.seekToEnd()
            try h.write(contentsOf: Data(#"{"t":"msg","d":"#.utf8))
            try h.close()
        }
        let runner = Runner(
            engine: try Engine(config: try config()), seedsPath: out + "/../seeds.jsonl", outputDir: out)
        let summary = try await runner.run()
        XCTAssertEqual(summary.stats.finished, 10)
        XCTAssertEqual(try rows(out), expected)
    }

    func testADifferentConfigIsRefusedUnlessFresh() async throws {
        let seeds = [#"{"question": "q"}"#]
        let (_, out) = try await runSynth(try config(), seeds: seeds)
        let other = try scriptedConfig(turns: #"{"max": 7}"#)
        let seedsPath = out + "/../seeds.jsonl"
        do {
            _ = try await Runner(engine: try Engine(config: other), seedsPath: seedsPath, outputDir: out).run()
            XCTFail("a different config must be refused")
        } catch let e as RunError {
            XCTAssertTrue("\(e)".contains("different config"), "\(e)")
        }
        let summary = try await Runner(engine: try Engine(config: other), seedsPath: seedsPath, outputDir: out).run(
            fresh: true)
        XCTAssertEqual(summary.stats.finished, 1)
        XCTAssertEqual(try readJSONL(out + "/dialogues.jsonl").first?["turns"] as? Int, 7)
        // A concurrency change is not a different config.
        let faster = try config(concurrency: 99)
        XCTAssertNoThrow(try RunDirectory.open(tempDir(), config: faster, shard: nil, fresh: false))
        XCTAssertEqual(faster.fingerprint, try config().fingerprint)
    }
}
