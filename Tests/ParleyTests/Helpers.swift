import Foundation
import XCTest

@testable import Parley

/// A scripted-backend config as JSON, with overrides merged in at the top level.
func scriptedConfig(
    _ extra: String = "", backend: String = #"{"type": "scripted", "words": [4, 12]}"#,
    asker: String = #"{"backend": "fake", "endpoint": "completion", "max_tokens": 32, "max_context": 4096}"#,
    assistant: String = #"{"backend": "fake", "max_tokens": 64, "max_context": 4096}"#,
    turns: String = #"{"max": 4}"#, run: String = #"{"seed": 1, "concurrency": 8}"#
) throws -> Config {
    let text = """
        {"backends": {"fake": \(backend)},
         "roles": {"asker": \(asker), "assistant": \(assistant)},
         "turns": \(turns), "run": \(run)\(extra.isEmpty ? "" : ", " + extra)}
        """
    return try Config.parse(text)
}

func tempDir() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("parley-test-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func writeSeeds(_ lines: [String], in dir: String) -> String {
    let path = dir + "/seeds.jsonl"
    _ = FileManager.default.createFile(atPath: path, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
    return path
}

/// Runs a config over seeds in a fresh directory; returns the summary and the directory.
func runSynth(_ config: Config, seeds: [String], backends: [String: any Backend] = [:]) async throws -> (
    RunSummary, String
) {
    let dir = tempDir()
    let runner = Runner(
        engine: try Engine(config: config, backends: backends), seedsPath: writeSeeds(seeds, in: dir),
        outputDir: dir + "/out")
    return (try await runner.run(), dir + "/out")
}

/// The JSON objects of a JSONL file.
func readJSONL(_ path: String) throws -> [[String: Any]] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

/// (from, value) pairs of a ShareGPT row.
func conversation(_ row: [String: Any]) -> [(String, String)] {
    (row["conversations"] as? [[String: Any]] ?? []).map { ($0["from"] as? String ?? "", $0["value"] as? String ?? "") }
}

/// Runs `config` over the seeds file into `out` again and again, cancelling each run after
/// `after` nanoseconds, until one finishes by itself; returns how many runs were interrupted.
/// Every 10 interruptions the wait doubles: under a sanitizer a run may need longer than `after`
/// to get anywhere (ThreadSanitizer looped here for ever before).
func runInterrupted(_ config: () throws -> Config, seedsPath: String, out: String, after: UInt64) async throws -> Int {
    var interruptions = 0
    var wait = after
    while true {
        let runner = Runner(engine: try Engine(config: try config()), seedsPath: seedsPath, outputDir: out)
        let task = Task { try await runner.run() }
        try await Task.sleep(nanoseconds: wait)
        task.cancel()
        if !(try await task.value).interrupted { return interruptions }
        interruptions += 1
        guard interruptions < 100 else {
            XCTFail("still interrupted after 100 runs")
            return interruptions
        }
        if interruptions % 10 == 0 { wait *= 2 }
    }
}
