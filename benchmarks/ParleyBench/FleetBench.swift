import Foundation
import Parley

/// The fleet router at scale, and the whole serving path's cost per request.
enum FleetBench {
    /// `dialogues` dialogues of 16 requests each over `endpoints` servers, 16 per server in
    /// flight at a time, their requests interleaved; at the half-way point 10% of the servers fail at once.
    static func route(endpoints: Int, dialogues: Int) -> String {
        let perDialogue = 16
        let inFlight = 16 * endpoints
        var router = FleetRouter((0..<endpoints).map { ("http://10.1.\($0 / 256).\($0 % 256):8000/v1", 1.0) })
        // Staggered, so that dialogues end (and new ones start) at every moment.
        var active = (0..<min(inFlight, dialogues)).map {
            (key: StableHash.of("dialogue-\($0)"), done: $0 % perDialogue)
        }
        var started = active.count
        var routes = 0
        var imbalance: [Double] = []  // max/mean of the dialogues in flight per healthy server
        var failedHomes = 0
        var rehomedBefore = 0
        var failed = false
        let cpu0 = cpuSeconds()
        var slot = 0
        while !active.isEmpty {
            slot = slot % active.count
            _ = router.route(active[slot].key)
            routes += 1
            active[slot].done += 1
            if active[slot].done == perDialogue {
                router.release(active[slot].key)
                if started < dialogues {
                    // A dialogue starts with its first request.
                    active[slot] = (StableHash.of("dialogue-\(started)"), 1)
                    _ = router.route(active[slot].key)
                    routes += 1
                    started += 1
                } else {
                    active.swapAt(slot, active.count - 1)
                    active.removeLast()
                }
            }
            slot += 1
            if routes % 100_000 == 0 && started < dialogues {
                let loads = router.members.filter(\.healthy).map { Double($0.dialogues) }
                let mean = loads.reduce(0, +) / Double(max(1, loads.count))
                if mean > 0 { imbalance.append((loads.max() ?? 0) / mean) }
            }
            if !failed && started >= dialogues / 2 {
                failed = true
                rehomedBefore = router.rehomed
                for i in stride(from: 0, to: endpoints, by: 10) {
                    failedHomes += router.members[i].dialogues
                    router.setHealthy(i, false)
                }
            }
        }
        let cpu = cpuSeconds() - cpu0
        imbalance.sort()
        let median = imbalance.isEmpty ? 0 : imbalance[imbalance.count / 2]
        // The work each server did over the run: dialogues placed on it.
        let placed = router.members.map { Double($0.placed) }
        let work = (placed.max() ?? 0) / max(1, placed.reduce(0, +) / Double(placed.count))
        return #"{"bench": "fleet", "endpoints": \#(endpoints), "dialogues": \#(dialogues), "requests": \#(routes), "#
            + #""ns_per_request": \#(String(format: "%.1f", cpu / Double(routes) * 1e9)), "#
            + #""imbalance_median": \#(String(format: "%.3f", median)), "#
            + #""imbalance_max": \#(String(format: "%.3f", imbalance.last ?? 0)), "#
            + #""placed_max_over_mean": \#(String(format: "%.3f", work)), "#
            + #""active_on_failed": \#(failedHomes), "rehomed": \#(router.rehomed - rehomedBefore), "#
            + #""in_flight": \#(inFlight), "peak_rss_mb": \#(String(format: "%.1f", peakRSSMegabytes()))}"#
    }

    /// Answers at once: what is measured is Parley's side of a request.
    struct Instant: Backend {
        let tokenCounter: any TokenCounter = EstimatingTokenCounter()
        func generate(_ request: GenerationRequest) async throws -> GenerationResult {
            GenerationResult(text: "ok", promptTokens: 10, completionTokens: 2, cachedPromptTokens: 8)
        }
    }

    /// CPU µs per request through `ModelEndpoint.generate`: one server, then `endpoints` servers.
    static func overhead(requests: Int, endpoints: Int) async throws -> String {
        var perRequest: [Double] = []
        for n in [1, endpoints] {
            let servers = (0..<n).map {
                (
                    FleetMember(baseURL: "http://10.2.\($0 / 256).\($0 % 256):8000/v1"),
                    Instant() as any Backend
                )
            }
            let endpoint = ModelEndpoint(
                name: "fleet", servers: servers,
                settings: BackendCommon(maxConcurrency: 100_000, concurrency: .adaptive))
            let cpu0 = cpuSeconds()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<64 {
                    group.addTask {
                        for i in stride(from: worker, to: requests, by: 64) {
                            let request = GenerationRequest(
                                dialogueID: "d\(i / 16)", messageIndex: i % 16, role: "assistant",
                                prompt: .text("hello"), model: nil, maxTokens: 8,
                                temperature: 0, topP: 1, stop: [], seed: 0,
                                promptTokens: 4)
                            _ = try await endpoint.generate(request)
                            if i % 16 == 15 { endpoint.release(dialogue: "d\(i / 16)") }
                        }
                    }
                }
                try await group.waitForAll()
            }
            perRequest.append((cpuSeconds() - cpu0) / Double(requests) * 1e6)
        }
        return #"{"bench": "fleet-overhead", "requests": \#(requests), "endpoints": \#(endpoints), "#
            + #""one_server_cpu_us": \#(String(format: "%.2f", perRequest[0])), "#
            + #""fleet_cpu_us": \#(String(format: "%.2f", perRequest[1])), "#
            + #""routing_us": \#(String(format: "%.2f", perRequest[1] - perRequest[0]))}"#
    }
}
