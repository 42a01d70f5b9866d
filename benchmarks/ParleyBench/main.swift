// Parley's engine benchmarks. Run them through `benchmarks/run` (release build), which
// also runs the Python asyncio baseline side by side and prints the ratios.
//
//   parley-bench overhead   DIALOGUES TURNS   scripted backend at zero latency, journal on
//   parley-bench saturation DIALOGUES LATENCY_MS CONCURRENCY
//   parley-bench memory     SEEDS TURNS       peak RSS
//   parley-bench filters    DIALOGUES TURNS   every filter on, against the same run without filters
//   parley-bench durability DIALOGUES TURNS   run.durability "process" and "fsync" side by side
//   parley-bench dataset    DIALOGUES TURNS PATH   writes a scripted dataset (for `parley stats`)
//   parley-bench fleet      ENDPOINTS DIALOGUES   the router over a simulated fleet: cost per request,
//                           load imbalance, dialogues moved when 10% of the servers fail at once
//   parley-bench fleet-overhead REQUESTS ENDPOINTS   CPU per request through a fleet of instant servers
//                           against one server
//   parley-bench json       LINES             µs per journal line written by hand, through Codable into
//                           JSONWriter and by JSONEncoder; per line parsed by JSONParser and JSONDecoder
// Each prints one JSON line.
import Foundation
import Parley
@_spi(Benchmarks) import Parley

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

func peakRSSMegabytes() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

func run(
    dialogues: Int, turns: Int, latencyMs: Double, concurrency: Int, extra: String = "",
    durability: String = "process", keep: String? = nil, watch: (@Sendable (Runner) async -> Void)? = nil
) async throws -> (RunSummary, wall: Double, cpu: Double) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-bench-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer {
        if let keep { try? FileManager.default.moveItem(atPath: dir + "/out/dialogues.jsonl", toPath: keep) }
        try? FileManager.default.removeItem(atPath: dir)
    }
    var seeds = ""
    for i in 0..<dialogues { seeds += "{\"question\": \"Benchmark question \(i)?\"}\n" }
    try seeds.write(toFile: dir + "/seeds.jsonl", atomically: false, encoding: .utf8)
    let config = try Config.parse(
        """
        {"backends": {"fake": {"type": "scripted", "words": [8, 24], "latency_ms": \(latencyMs),
                               "max_concurrency": 100000}},
         "roles": {"asker": {"backend": "fake", "endpoint": "completion", "max_tokens": 64},
                   "assistant": {"backend": "fake", "max_tokens": 256}},
         "turns": {"max": \(turns)}, "run": {"concurrency": \(concurrency), "durability": "\(durability)"}\(extra)}
        """)
    let runner = Runner(engine: try Engine(config: config), seedsPath: dir + "/seeds.jsonl", outputDir: dir + "/out")
    let cpu0 = cpuSeconds()
    let t0 = ContinuousClock.now
    let watcher = watch.map { watch in Task { await watch(runner) } }
    let summary = try await runner.run()
    let wall = ContinuousClock.now - t0
    watcher?.cancel()
    return (summary, Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18, cpuSeconds() - cpu0)
}

let args = CommandLine.arguments.dropFirst().map { $0 }
func arg(_ i: Int, _ d: Int) -> Int { args.count > i ? Int(args[i]) ?? d : d }

switch args.first ?? "" {
case "overhead":
    let (s, wall, cpu) = try await run(dialogues: arg(1, 10_000), turns: arg(2, 8), latencyMs: 0, concurrency: 256)
    print(
        #"{"bench": "overhead", "dialogues": \#(s.stats.finished), "turns": \#(s.stats.turns), "turns_per_s": "#
            + #"\#(Int(Double(s.stats.turns) / wall)), "cpu_us_per_turn": "#
            + #"\#(String(format: "%.2f", cpu / Double(s.stats.turns) * 1e6)), "wall_s": "#
            + #"\#(String(format: "%.2f", wall))}"#
    )
case "durability":
    // The same zero-latency run in each mode, back to back: wall and CPU µs per turn.
    var fields: [String] = []
    var wallPerTurn: [String: Double] = [:]
    for mode in ["process", "fsync"] {
        let (s, wall, cpu) = try await run(
            dialogues: arg(1, 10_000), turns: arg(2, 8), latencyMs: 0, concurrency: 256,
            durability: mode)
        wallPerTurn[mode] = wall / Double(s.stats.turns) * 1e6
        fields.append(#""\#(mode)_wall_us_per_turn": \#(String(format: "%.2f", wallPerTurn[mode]!))"#)
        fields.append(#""\#(mode)_cpu_us_per_turn": \#(String(format: "%.2f", cpu / Double(s.stats.turns) * 1e6))"#)
    }
    let ratio = String(format: "%.2f", wallPerTurn["fsync"]! / wallPerTurn["process"]!)
    print(#"{"bench": "durability", \#(fields.joined(separator: ", ")), "fsync_over_process": \#(ratio)}"#)
case "saturation":
    let latency = Double(arg(2, 20))
    let concurrency = arg(3, 512)
    // Every 2 ms: the messages generated so far while all `concurrency` dialogues are in flight.
    let samples = Locked<[(seconds: Double, messages: Int, full: Bool)]>([])
    let (s, wall, _) = try await run(
        dialogues: arg(1, 4096), turns: 8, latencyMs: latency, concurrency: concurrency,
        watch: { runner in
            let start = ContinuousClock.now
            while !Task.isCancelled {
                let p = runner.progress
                let t = ContinuousClock.now - start
                let seconds = Double(t.components.seconds) + Double(t.components.attoseconds) / 1e18
                samples.withLock { $0.append((seconds, p.messages, p.inFlight == concurrency)) }
                try? await Task.sleep(for: .milliseconds(2))
            }
        })
    // Each request takes `latency`; a dialogue makes `generated_messages / dialogues` of them
    // (a seed question means the first turn needs only the answer).
    let ideal = Double(concurrency) / (latency / 1000) * Double(s.stats.turns) / Double(s.stats.messagesGenerated)
    let achieved = Double(s.stats.turns) / wall
    // Steady state: from the end of the first round of requests to the last moment every slot was
    // held (the tail, as the last dialogues end, holds fewer): requests a second against the bound.
    let taken = samples.withLock { $0 }
    let full = taken.filter { $0.full && $0.messages >= concurrency }
    // Where the time above the bound goes: before every slot is first held, and after the last moment all were.
    let ramp = taken.first { $0.full }?.seconds ?? 0
    let tail = wall - (full.last?.seconds ?? wall)
    var steady = 0.0
    if let first = full.first, let last = full.last, last.seconds > first.seconds {
        steady =
            Double(last.messages - first.messages) / (last.seconds - first.seconds) * (latency / 1000)
            / Double(concurrency)
    }
    print(
        #"{"bench": "saturation", "concurrency": \#(concurrency), "latency_ms": \#(Int(latency)), "turns_per_s": "#
            + #"\#(Int(achieved)), "ideal_turns_per_s": \#(Int(ideal)), "efficiency": "#
            + #"\#(String(format: "%.3f", achieved / ideal)), "#
            + #""steady_efficiency": \#(String(format: "%.3f", steady)), "#
            + #""steady_s": \#(String(format: "%.2f", (full.last?.seconds ?? 0) - (full.first?.seconds ?? 0))), "#
            + #""above_bound_s": \#(String(format: "%.3f", wall - Double(s.stats.turns) / ideal)), "#
            + #""ramp_s": \#(String(format: "%.3f", ramp)), "tail_s": \#(String(format: "%.3f", tail)), "#
            + #""wall_s": \#(String(format: "%.3f", wall))}"#
    )
case "memory":
    let (s, wall, _) = try await run(dialogues: arg(1, 100_000), turns: arg(2, 4), latencyMs: 0, concurrency: 256)
    print(
        #"{"bench": "memory", "seeds": \#(s.stats.finished), "turns": \#(s.stats.turns), "peak_rss_mb": "#
            + #"\#(String(format: "%.1f", peakRSSMegabytes())), "wall_s": \#(String(format: "%.2f", wall))}"#
    )
case "filters":
    // The same scripted run with and without every filter, then the filters alone over its dialogues.
    let all =
        #", "filters": {"user_length": {"min": 3, "max": 200}, "repeat": {"threshold": 0.7}, "duplicates": true, "#
        + #""polite_closer": true, "truncated": true, "role_exchange": true, "blocklist": {"terms": "#
        + #"[\#((0..<100).map { "\"term\($0) word\"" }.joined(separator: ","))]}}"#
    let n = arg(1, 10_000)
    let turns = arg(2, 8)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("parley-bench-\(UUID().uuidString).jsonl")
        .path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let (_, plainWall, _) = try await run(dialogues: n, turns: turns, latencyMs: 0, concurrency: 256, keep: path)
    let (filtered, filteredWall, _) = try await run(
        dialogues: n, turns: turns, latencyMs: 0, concurrency: 256, extra: all)
    let reader = try DatasetReader(path: path)
    var rows: [[Message]] = []
    while let row = reader.next() { rows.append(row.messages) }
    let config = try Config.parse(
        #"{"backends": {"f": {"type": "scripted"}}, "roles": {"asker": {"backend": "f"}, "assistant": {"backend": "#
            + #""f"}}"#
            + all + "}")
    let filters = DialogueFilters(config: config.filters, blockTerms: config.filters.blocklist?.terms ?? [])
    let t0 = ContinuousClock.now
    var offences = 0
    for r in rows where filters.firstOffence(in: r) != nil { offences += 1 }
    let elapsed = ContinuousClock.now - t0
    let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    print(
        #"{"bench": "filters", "dialogues": \#(rows.count), "offending": \#(offences), "filters_ms": "#
            + #"\#(String(format: "%.1f", ms)), "us_per_dialogue": "#
            + #"\#(String(format: "%.1f", ms * 1000 / Double(max(rows.count, 1)))), "synth_wall_s": "#
            + #"\#(String(format: "%.2f", plainWall)), "synth_filtered_wall_s": "#
            + #"\#(String(format: "%.2f", filteredWall)), "ratio": "#
            + #"\#(String(format: "%.3f", filteredWall / plainWall)), "kept": \#(filtered.stats.finished)}"#
    )
case "dataset":
    guard args.count > 3 else { fatalError("usage: parley-bench dataset DIALOGUES TURNS PATH") }
    let (s, wall, _) = try await run(
        dialogues: arg(1, 100_000), turns: arg(2, 8), latencyMs: 0, concurrency: 256, keep: args[3])
    print(
        #"{"bench": "dataset", "dialogues": \#(s.stats.finished), "path": "\#(args[3])", "wall_s": "#
            + #"\#(String(format: "%.2f", wall))}"#
    )
case "fleet":
    print(FleetBench.route(endpoints: arg(1, 1000), dialogues: arg(2, 1_000_000)))
case "fleet-overhead":
    print(try await FleetBench.overhead(requests: arg(1, 200_000), endpoints: arg(2, 1000)))
case "json":
    let figures = try JSONCosts.measure(lines: arg(1, 200_000))
    let fields = figures.keys.sorted().map { "\"\($0)_us\": \(String(format: "%.3f", figures[$0]!))" }
    print(#"{"bench": "json", "# + fields.joined(separator: ", ") + "}")
case "serve":
    try StubServer.serve(port: arg(1, 0))
default:
    let names = "overhead|saturation|memory|filters|durability|dataset|fleet|fleet-overhead|json|serve"
    FileHandle.standardError.write(Data("usage: parley-bench \(names) [N …]\n".utf8))
    exit(2)
}
