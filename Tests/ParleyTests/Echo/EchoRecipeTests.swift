import Foundation
import XCTest

@testable import Parley

/// The echo recipe, which lives only in this folder, runs through the same config reader,
/// runner, journal and writer as the built-in recipes, and resumes after interruptions.
final class EchoRecipeTests: XCTestCase {
    override func setUp() {
        RecipeRegistry.register(EchoRecipe.self)
    }

    func config(_ echo: String = #"{"times": 3}"#, roles: String = #"{"echoer": {"backend": "fake"}}"#) throws -> Config
    {
        try Config.parse(
            """
            {"recipe": "echo", "backends": {"fake": {"type": "scripted", "words": [2, 6], "latency_ms": 2}},
             "roles": \(roles), "echo": \(echo), "run": {"seed": 5, "concurrency": 8}}
            """)
    }

    func testItsSectionAndRolesAreReadLikeABuiltInRecipe() throws {
        XCTAssertEqual(try config().echo.times, 3)
        XCTAssertEqual(try config().roles["echoer"]?.maxTokens, 16)
        XCTAssertThrowsError(try config(#"{"tims": 3}"#, roles: "{}")) {
            XCTAssertEqual(
                ($0 as? ConfigError)?.issues.map(\.description),
                [
                    #"echo.tims: unknown key (did you mean "times"?)"#,
                    "roles.echoer: missing: the echo recipe needs roles echoer",
                ])
        }
    }

    func testItRunsAndResumesWithNothingLostOrMadeTwice() async throws {
        let seeds = (1...40).map { #"{"question": "Echo \#($0)?"}"# }
        let (summary, reference) = try await runSynth(try config(), seeds: seeds)
        XCTAssertEqual(summary.stats.finished, 40)
        let expected = try readJSONL(reference + "/echo.jsonl")
        XCTAssertEqual(expected.count, 40)
        XCTAssertTrue(expected.allSatisfy { ($0["echoes"] as? [String])?.count == 3 && ($0["words"] as? Int ?? 0) > 0 })

        let dir = tempDir()
        let seedsPath = writeSeeds(seeds, in: dir)
        let interruptions = try await runInterrupted(
            { try config() }, seedsPath: seedsPath, out: dir + "/out", after: 30_000_000)
        XCTAssertGreaterThan(interruptions, 0)
        let rows = try readJSONL(dir + "/out/echo.jsonl")
        func byID(_ rows: [[String: Any]]) -> [String: String] {
            Dictionary(uniqueKeysWithValues: rows.map { ($0["id"] as! String, "\($0["echoes"]!) \($0["words"]!)") })
        }
        XCTAssertEqual(rows.count, 40)
        XCTAssertEqual(byID(rows), byID(expected))
        let made = try readJSONL(dir + "/out/journal.jsonl").filter { ["msg", "rec"].contains($0["t"] as? String) }
        let keys = made.map { "\($0["t"]!) \($0["d"]!) \($0["n"]!)" }
        XCTAssertEqual(keys.count, Set(keys).count, "a message or record was journaled twice")
    }
}
