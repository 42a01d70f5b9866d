import XCTest

@testable import Parley

final class MetricsTests: XCTestCase {
    let scripted = """
        {"backends": {"s": {"type": "scripted"}},
         "roles": {"asker": {"backend": "s", "endpoint": "completion"}, "assistant": {"backend": "s"}}}
        """

    func testTheSectionIsReadWithItsPaths() throws {
        func run(_ metrics: String) -> String { scripted.dropLast() + #", "run": {"metrics": \#(metrics)}}"# }
        XCTAssertEqual(try Config.parse(run(#"{"port": 0}"#)).run.metrics, MetricsSettings(port: 0))
        XCTAssertEqual(
            try Config.parse(run(#"{"port": 9464, "host": "0.0.0.0"}"#)).run.metrics,
            MetricsSettings(port: 9464, host: "0.0.0.0"))
        XCTAssertNil(try Config.parse(scripted).run.metrics)
        func issues(_ metrics: String) -> [String] {
            do {
                _ = try Config.parse(run(metrics))
                return []
            } catch { return error.issues.map(\.description) }
        }
        XCTAssertEqual(
            issues(#"{"host": "::1"}"#), ["run.metrics.port: missing: the port to serve on (0: any free one)"])
        XCTAssertEqual(issues(#"{"port": 70000}"#), ["run.metrics.port: expected an integer in 0…65535, got 70000"])
        XCTAssertEqual(issues(#"{"port": 1, "hots": "x"}"#), [#"run.metrics.hots: unknown key (did you mean "host"?)"#])
    }

    /// Counters carry the run's totals, those replayed from an earlier run included, and only go up;
    /// the dialogue states always add up to the seeds.
    func testCountersFollowTheRunsBooks() throws {
        let engine = try Engine(config: try Config.parse(scripted))
        let reading = Locked(RunMetrics.Reading(seeds: 10, running: 0, stats: RunStats()))
        reading.withLock {
            $0.stats.finished = 3
            $0.stats.turns = 12
            $0.stats.endReasons = ["max_turns": 3]
            $0.running = 2
        }
        let metrics = RunMetrics(endpoints: Array(engine.endpoints.values)) { reading.withLock { $0 } }
        var text = metrics.exposition()
        XCTAssertTrue(text.contains("parley_turns_total 12\n"), text)
        XCTAssertTrue(text.contains(#"parley_end_reasons_total{reason="max_turns"} 3"#), text)
        XCTAssertTrue(text.contains(#"parley_dialogues{state="pending"} 5.0"#), text)
        XCTAssertTrue(text.contains(#"parley_requests_total{backend="s",url="s"} 0"#), text)
        reading.withLock {
            $0.stats.finished = 4
            $0.stats.failed = 1
            $0.stats.turns = 15
            $0.stats.failureReasons = ["HTTP 503 from x": 1]
        }
        text = metrics.exposition()
        XCTAssertTrue(text.contains("parley_turns_total 15\n"), text)
        XCTAssertTrue(text.contains(#"parley_dialogue_failures_total{reason="HTTP 503 from x"} 1"#), text)
        XCTAssertTrue(text.contains(#"parley_dialogues{state="pending"} 3.0"#), text)
        XCTAssertEqual(text, metrics.exposition(), "reading twice counts nothing twice")
    }
}
