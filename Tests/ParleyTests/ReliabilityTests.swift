import Foundation
import XCTest

@testable import Parley

/// The run directory's lock, durability levels, and failure reasons that count every attempt.
final class ReliabilityTests: XCTestCase {
    let questions = (1...40).map { #"{"question": "Question number \#($0)?"}"# }

    func testAFailureCountsWhatEachAttemptMet() {
        let met = [
            "timeout", "HTTP 503", "timeout", "malformed body", "timeout", "HTTP 503", "timeout", "timeout", "timeout",
        ]
        let failure = GenerationFailure(reason: "timeout after 2 s: http://h/v1/completions", attempts: 9, met: met)
        XCTAssertEqual(
            failure.description,
            "timeout after 2 s: http://h/v1/completions (after 9 attempts: 6 × timeout, 2 × HTTP 503, 1 × malformed "
                + "body)"
        )
        XCTAssertEqual(
            GenerationFailure(reason: "HTTP 401", attempts: 1, met: ["HTTP 401"]).description,
            "HTTP 401 (after 1 attempt)")
        // Equal counts keep the order in which the kinds first appeared.
        XCTAssertEqual(
            GenerationFailure(reason: "r", attempts: 2, met: ["reset", "HTTP 429"]).description,
            "r (after 2 attempts: 1 × reset, 1 × HTTP 429)")
    }

    func testAFailedRunCountsItsAttemptsByKind() async throws {
        let backend =
            #"{"type": "scripted", "words": [4, 12], "fail_rate": 1, "max_retries": 2, "backoff_base_seconds": 0.01}"#
        let config = try scriptedConfig(backend: backend)
        let (summary, out) = try await runSynth(config, seeds: Array(questions.prefix(3)))
        XCTAssertEqual(summary.stats.failed, 3)
        for row in try readJSONL(out + "/failures.jsonl") {
            let reason = try XCTUnwrap(row["reason"] as? String)
            XCTAssertTrue(reason.hasSuffix("(after 3 attempts: 3 × scripted failure)"), reason)
        }
    }

    func testASecondRunnerOnAHeldDirectoryIsRefused() async throws {
        let config = try scriptedConfig()
        let dir = tempDir()
        let seeds = writeSeeds(questions, in: dir)
        let engine = try Engine(config: config, backends: [:])
        let first = Runner(engine: engine, seedsPath: seeds, outputDir: dir + "/out")
        try first.claimDirectory()
        try first.claimDirectory()  // the holder claiming again is fine
        // The same directory, spelt otherwise.
        let second = Runner(engine: engine, seedsPath: seeds, outputDir: dir + "/out/.")
        do {
            _ = try await second.run()
            XCTFail("the second runner must be refused")
        } catch RunError.busy(let message) {
            XCTAssertTrue(message.contains(dir + "/out") && message.contains("another job of this process"), message)
        }
        let done = try await first.run()
        XCTAssertEqual(done.stats.finished, 40)
        // `run` let it go: the other runner may now resume (nothing is left to do).
        let resumed = try await second.run()
        XCTAssertEqual(resumed.stats.finished, 40)
    }

    func testFsyncDurabilityWritesWhatProcessDurabilityWrites() async throws {
        let process = try scriptedConfig(run: #"{"seed": 3, "concurrency": 8}"#)
        let fsync = try scriptedConfig(run: #"{"seed": 3, "concurrency": 8, "durability": "fsync"}"#)
        XCTAssertEqual(fsync.run.durability, .fsync)
        XCTAssertEqual(process.fingerprint, fsync.fingerprint, "durability does not shape the dialogues")
        let (a, outA) = try await runSynth(process, seeds: questions)
        let (b, outB) = try await runSynth(fsync, seeds: questions)
        XCTAssertEqual(a.stats.finished, 40)
        XCTAssertEqual(b.stats.finished, 40)
        // The same dialogues (latencies in meta may differ).
        func dialogues(_ out: String) throws -> [String: String] {
            Dictionary(
                uniqueKeysWithValues: try readJSONL(out + "/dialogues.jsonl").map {
                    ($0["id"] as? String ?? "", conversation($0).map { "\($0.0): \($0.1)" }.joined(separator: "\n"))
                })
        }
        XCTAssertEqual(try dialogues(outA), try dialogues(outB))
        let ends = try readJSONL(outB + "/journal.jsonl").filter { $0["t"] as? String == "end" }
        XCTAssertEqual(ends.count, 40)
    }

    func testAnOutputFileShorterThanItsJournalStopsTheResume() async throws {
        let config = try scriptedConfig()
        let dir = tempDir()
        let seeds = writeSeeds(questions, in: dir)
        let engine = try Engine(config: config, backends: [:])
        _ = try await Runner(engine: engine, seedsPath: seeds, outputDir: dir + "/out").run()
        let path = dir + "/out/dialogues.jsonl"
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 10)
        try handle.close()
        do {
            _ = try await Runner(engine: engine, seedsPath: seeds, outputDir: dir + "/out").run()
            XCTFail("a resume must not pad a file the journal says is longer")
        } catch RunError.corruptJournal(let message) {
            XCTAssertTrue(message.contains(path) && message.contains("has 10 bytes"), message)
        }
    }

    func testDurabilityIsValidatedWithItsPath() {
        XCTAssertThrowsError(try scriptedConfig(run: #"{"durability": "disk"}"#)) { error in
            XCTAssertTrue("\(error)".contains("run.durability"), "\(error)")
        }
    }
}
