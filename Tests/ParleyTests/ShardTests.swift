import Foundation
import XCTest

@testable import Parley

final class ShardTests: XCTestCase {
    /// Seeds with ids, without ids, and one line that is not a seed.
    let seedLines =
        (0..<300).map { i in
            i % 3 == 0 ? #"{"id": "s\#(i)", "question": "Question \#(i)?"}"# : #"{"question": "Question \#(i)?"}"#
        } + ["not json"]

    func parsed(_ lines: [String]) -> [Result<Seed, SeedError>] {
        lines.enumerated().map { i, line in
            Result { () throws(SeedError) in try Seed.parse(line: line, number: i + 1) }
        }
    }

    /// Where each seed lands: by id, or by content for seeds without one.
    func owners(_ lines: [String], count: Int) -> [String: Int] {
        var out: [String: Int] = [:]
        for item in parsed(lines) {
            let owning = (1...count).filter { Shard(index: $0, count: count)!.owns(item) }
            XCTAssertEqual(owning.count, 1, "every line belongs to exactly one shard of \(count)")
            if case .success(let seed) = item { out[seed.question ?? seed.id] = owning.first }
        }
        return out
    }

    /// Shards, derived ids, request seeds and scripted text all come from `StableHash`: its values are
    /// FNV-1a over each part's UTF-8 and a separator byte, then SplitMix64's mix, in every build.
    func testStableHashIsFNV1aOfTheUTF8ThenMixed() {
        func reference(_ parts: [String]) -> UInt64 {
            var state: UInt64 = 0xcbf2_9ce4_8422_2325
            for part in parts {
                for byte in Array(part.utf8) + [0xFF] { state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            }
            return SplitMix64.mix(state)
        }
        for parts in [[""], ["a"], ["id", "s12"], ["ünïcödé ✓", "😀"], [String(repeating: "x", count: 100)]] {
            var hash = StableHash()
            for part in parts { hash.combine(part) }
            XCTAssertEqual(hash.value, reference(parts), "\(parts)")
        }
        XCTAssertEqual(StableHash.of("id", "s12"), 0x8571_72E2_6F4B_9D73, "FNV-1a and SplitMix64 by hand")
    }

    func testEveryShardingSplitsTheSeedsIntoDisjointParts() {
        for count in 1...8 {
            let owners = owners(seedLines, count: count)
            XCTAssertEqual(owners.count, 300)
            let sizes = Dictionary(grouping: owners.values, by: { $0 }).mapValues(\.count)
            XCTAssertEqual(Set(sizes.keys), Set(1...count), "no shard of \(count) is empty with 300 seeds")
        }
    }

    func testASeedKeepsItsShardWhenTheFileIsShuffledOrGrows() {
        var rng = SplitMix64(seed: 7)
        let shuffled = seedLines.shuffled(using: &rng)
        let grown = seedLines + (0..<100).map { #"{"question": "New question \#($0)?"}"# }
        for count in [2, 5, 8] {
            let before = owners(seedLines, count: count)
            XCTAssertEqual(owners(shuffled, count: count), before)
            XCTAssertEqual(owners(grown, count: count).filter { before[$0.key] != nil }, before)
        }
    }

    func testShardsParseAndBadOnesAreNamedWithTheirPath() throws {
        XCTAssertEqual(Shard("2/8")?.description, "2/8")
        for bad in ["0/4", "5/4", "1/0", "a/b", "3", "1/2/3", ""] { XCTAssertNil(Shard(bad), bad) }
        XCTAssertEqual(try scriptedConfig(run: #"{"shard": "3/4"}"#).run.shard, Shard(index: 3, count: 4))
        XCTAssertThrowsError(try scriptedConfig(run: #"{"shard": "5/4"}"#)) { error in
            XCTAssertEqual((error as? ConfigError)?.issues.map(\.path), ["run.shard"])
        }
        XCTAssertEqual(
            try scriptedConfig(run: #"{"shard": "1/2"}"#).fingerprint,
            try scriptedConfig(run: #"{"shard": "2/2"}"#).fingerprint, "shards of one run share its config")
    }

    func testShardRunsCoverTheSeedsOnceAndAResumeWithAnotherShardIsRefused() async throws {
        let dir = tempDir()
        let seeds = writeSeeds(seedLines, in: dir)
        var ids: [String] = []
        var seedCount = 0
        for k in 1...3 {
            let runner = Runner(
                engine: try Engine(config: try scriptedConfig()), seeds: .file(seeds),
                outputDir: dir + "/shard\(k)", shard: Shard(index: k, count: 3))
            let summary = try await runner.run()
            XCTAssertEqual(summary.stats.ended, summary.seeds)
            seedCount += summary.seeds
            ids += try readJSONL(dir + "/shard\(k)/dialogues.jsonl").map { $0["id"] as! String }
            ids += try readJSONL(dir + "/shard\(k)/failures.jsonl").map { $0["id"] as! String }
        }
        XCTAssertEqual(seedCount, 301)
        XCTAssertEqual(ids.count, 301)
        XCTAssertEqual(Set(ids).count, 301)

        let other = Runner(
            engine: try Engine(config: try scriptedConfig()), seeds: .file(seeds),
            outputDir: dir + "/shard1", shard: Shard(index: 2, count: 3))
        do {
            _ = try await other.run()
            XCTFail("a resume with another shard must be refused")
        } catch {
            XCTAssertTrue("\(error)".contains("holds shard 1/3; this run is shard 2/3"), "\(error)")
        }
    }
}
