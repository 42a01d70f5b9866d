import Foundation
import XCTest

@testable import Parley

/// The serving pieces: the fleet router, the circuit breaker, the concurrency controller,
/// token buckets, the budget, and a fleet of in-process servers through `ModelEndpoint`.
final class ServingTests: XCTestCase {
    let urls = (0..<8).map { (url: "http://10.0.0.\($0):8000/v1", weight: 1.0) }

    func testADialogueStaysOnItsServer() {
        var router = FleetRouter(urls)
        for d in 0..<200 {
            let key = StableHash.of("dialogue-\(d)")
            let home = router.route(key)
            for _ in 0..<8 { XCTAssertEqual(router.route(key), home) }
        }
    }

    func testTwoRoutersOverTheSameServersAgree() {
        // The asker's and the assistant's backends over one fleet send a dialogue to one server.
        var a = FleetRouter(urls)
        var b = FleetRouter(urls.reversed())
        for d in 0..<16 {
            let key = StableHash.of("d\(d)")
            XCTAssertEqual(a.members[a.route(key)].key, b.members[b.route(key)].key)
            a.release(key)
            b.release(key)
        }
    }

    func testBoundedLoadKeepsEveryServerNearItsShare() {
        var router = FleetRouter(urls)
        for d in 0..<4000 { _ = router.route(StableHash.of("d\(d)")) }
        let loads = router.members.map(\.dialogues)
        let mean = Double(loads.reduce(0, +)) / Double(loads.count)
        XCTAssertLessThanOrEqual(Double(loads.max() ?? 0) / mean, 1.25 + 1e-9, "\(loads)")
    }

    func testWeightsShareTheDialogues() {
        var router = FleetRouter([("http://a/v1", 1), ("http://b/v1", 3)])
        for d in 0..<4000 { _ = router.route(StableHash.of("d\(d)")) }
        let share = Double(router.members[1].dialogues) / 4000
        XCTAssertEqual(share, 0.75, accuracy: 0.05)
    }

    func testAServerTakenOutMovesOnlyItsDialogues() {
        var router = FleetRouter(urls)
        let keys = (0..<800).map { StableHash.of("d\($0)") }
        let before = keys.map { router.route($0) }
        router.setHealthy(3, false)
        let after = keys.map { router.route($0) }
        for (b, a) in zip(before, after) {
            if b == 3 { XCTAssertNotEqual(a, 3) } else { XCTAssertEqual(a, b) }
        }
        XCTAssertEqual(router.rehomed, before.filter { $0 == 3 }.count)
        // Back in: moved dialogues stay where their cache now is; new ones reach it again.
        router.setHealthy(3, true)
        XCTAssertEqual(keys.map { router.route($0) }, after)
        let fresh = (800..<1600).map { router.route(StableHash.of("d\($0)")) }
        XCTAssertTrue(fresh.contains(3))
    }

    func testEndedDialoguesFreeTheirServer() {
        var router = FleetRouter(urls)
        for d in 0..<100 { _ = router.route(StableHash.of("d\(d)")) }
        for d in 0..<100 { router.release(StableHash.of("d\(d)")) }
        XCTAssertEqual(router.members.map(\.dialogues).reduce(0, +), 0)
        XCTAssertEqual(router.members.map(\.placed).reduce(0, +), 100)
    }

    func testRoundRobinIgnoresDialogues() {
        var router = FleetRouter(Array(urls.prefix(3)), routing: .roundRobin)
        let key = StableHash.of("one")
        XCTAssertEqual(Set((0..<6).map { _ in router.route(key) }).count, 3)
    }

    func testTheBreakerOpensOnARefusalOrAStreak() {
        var b = CircuitBreaker()
        XCTAssertTrue(b.failed(kind: "refused", now: 0))
        XCTAssertEqual(b.state, .open(probeAt: 1))
        b.probeFailed(now: 1)
        XCTAssertEqual(b.state, .open(probeAt: 3))
        b.succeeded()
        XCTAssertTrue(b.isClosed)
        for _ in 0..<4 { XCTAssertFalse(b.failed(kind: "HTTP 502", now: 5)) }
        b.succeeded()  // a success breaks the streak
        for _ in 0..<4 { XCTAssertFalse(b.failed(kind: "timeout", now: 5)) }
        XCTAssertTrue(b.failed(kind: "HTTP 500", now: 5))
        var c = CircuitBreaker()
        for _ in 0..<20 { XCTAssertFalse(c.failed(kind: "HTTP 429", now: 0)) }  // overload is not breakage
    }

    func testOverloadHalvesTheLimitOncePerBurst() {
        var c = ConcurrencyController(mode: .adaptive, ceiling: 64, start: 16)
        let epoch = c.epoch
        XCTAssertTrue(c.overloaded(epoch: epoch))
        XCTAssertEqual(c.slots, 8)
        // Requests admitted before the cut do not cut again.
        XCTAssertFalse(c.overloaded(epoch: epoch))
        XCTAssertEqual(c.slots, 8)
        XCTAssertTrue(c.overloaded(epoch: c.epoch))
        XCTAssertEqual(c.slots, 4)
        // A server that still holds 6 requests serves about 6.
        XCTAssertTrue(c.overloaded(epoch: c.epoch, others: 3))
        XCTAssertEqual(c.slots, 3)
        var d = ConcurrencyController(mode: .adaptive, ceiling: 64, start: 8)
        XCTAssertTrue(d.overloaded(epoch: d.epoch, others: 6))
        XCTAssertEqual(d.slots, 6)
        var fixed = ConcurrencyController(mode: .fixed, ceiling: 12)
        XCTAssertFalse(fixed.overloaded(epoch: 0))
        XCTAssertEqual(fixed.slots, 12)
    }

    /// A server that rejects above `capacity` in flight: the limit sits at it, rarely probing above.
    func testTheLimitSettlesBelowAHardLimit() {
        var c = ConcurrencyController(mode: .adaptive, ceiling: 64)
        let capacity = 6
        var rejected = 0
        var total = 0
        var late: [Int] = []
        var time = 0.0
        for step in 0..<4000 {
            total += 1
            if c.slots > capacity {
                rejected += 1
                _ = c.overloaded(epoch: c.epoch)
            } else {
                time += 0.1 / Double(c.slots)  // `slots` requests of 0.1 s always in flight
                _ = c.succeeded(seconds: 0.1, tokens: 10, at: time)
            }
            if step >= 2000 { late.append(c.slots) }
        }
        XCTAssertEqual(late.sorted()[late.count / 2], capacity)
        XCTAssertLessThan(Double(rejected) / Double(total), 0.02, "\(rejected) of \(total) rejected")
    }

    /// A server that queues above `knee` in flight: latency per token grows with the limit, and
    /// throughput stays the same.
    func testTheLimitSettlesNearAQueueingServersKnee() {
        var c = ConcurrencyController(mode: .adaptive, ceiling: 64)
        let knee = 8.0
        var late: [Int] = []
        var time = 0.0
        for step in 0..<20000 {
            let latency = 0.02 * max(1, Double(c.slots) / knee)
            time += latency / Double(c.slots)
            _ = c.succeeded(seconds: latency, tokens: 1, at: time)
            if step >= 10000 { late.append(c.slots) }
        }
        let median = late.sorted()[late.count / 2]
        XCTAssertGreaterThanOrEqual(median, Int(knee))
        XCTAssertLessThanOrEqual(median, Int(knee) + 4, "limits \(Set(late).sorted())")
    }

    /// A server that runs its requests as one batch (llama.cpp with 8 slots on a CPU): each token
    /// takes longer as the batch grows, so latency alone looks like queueing, but throughput rises
    /// with every request added. The limit stays at the ceiling, where throughput is highest.
    func testABatchingServerKeepsTheLimitThatBuysThroughput() {
        var c = ConcurrencyController(mode: .adaptive, ceiling: 8)
        var late: [Int] = []
        var time = 0.0
        var cuts = 0
        for step in 0..<4000 {
            let latency = 0.02 * (1 + 0.3 * Double(c.slots - 1))  // 4 at once: 2.1 a second each; 8: 2.6
            time += latency / Double(c.slots)
            let before = c.slots
            _ = c.succeeded(seconds: latency, tokens: 1, at: time)
            if c.slots < before && c.slots != before / 2 { cuts += 1 }  // (every 100 windows a probe at half)
            if step >= 2000 { late.append(c.slots) }
        }
        XCTAssertEqual(late.sorted()[late.count / 2], 8, "limits \(Set(late).sorted())")
        XCTAssertEqual(cuts, 0)
    }

    /// The same batching server with 8 slots and a queue beyond them, under a ceiling of 32: throughput
    /// stops rising at 8, so the limit settles there, although every limit above 4 bought more than 4 gave.
    func testABatchingServerIsCutBackToItsSlots() {
        var c = ConcurrencyController(mode: .adaptive, ceiling: 32)
        var late: [Int] = []
        var time = 0.0
        for step in 0..<20000 {
            let n = Double(c.slots)
            let latency = 0.02 * (1 + 0.35 * (min(n, 8) - 1)) * max(1, n / 8)
            time += latency / n
            _ = c.succeeded(seconds: latency, tokens: 1, at: time)
            if step >= 10000 { late.append(c.slots) }
        }
        let median = late.sorted()[late.count / 2]
        XCTAssertGreaterThanOrEqual(median, 8, "limits \(Set(late).sorted())")
        XCTAssertLessThanOrEqual(median, 10, "limits \(Set(late).sorted())")
    }

    func testABucketHoldsTheRate() {
        var b = TokenBucket(perMinute: 600, now: 0)  // 10 a second
        var taken = 0.0
        var now = 0.0
        while now < 60 {
            if b.wait(now: now) == 0 {
                b.take(7, now: now)
                taken += 7
            }
            now += 0.01
        }
        XCTAssertEqual(taken / 60, 10, accuracy: 0.2)
        // What a request did not use comes back, up to one second of refill.
        b.refund(1000)
        XCTAssertEqual(b.level, 10, accuracy: 1e-9)
    }

    func testALearnedLimitCapsTheLevel() {
        var b = TokenBucket(perMinute: 6000, now: 0)
        b.learn(perMinute: 60, remaining: 0, now: 10)
        XCTAssertEqual(b.perSecond, 1)
        XCTAssertEqual(b.level, 0)
        let headers = ["x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "12"]
        XCTAssertEqual(
            RateLimitHeaders(headers.get),
            RateLimitHeaders(limitRequests: 500, remainingRequests: 12))
        XCTAssertNil(RateLimitHeaders([String: String]().get))
    }

    func testTheBudgetNeverStartsARequestThatCouldExceedIt() throws {
        let budget = Budget(BudgetConfig(maxCompletionTokens: 100))
        let a = try budget.reserve(model: "m", promptTokens: 10, maxTokens: 60)
        XCTAssertThrowsError(try budget.reserve(model: "m", promptTokens: 10, maxTokens: 60))
        XCTAssertTrue(budget.exhausted)
        budget.settle(a, prompt: 12, cached: nil, completion: 20, failed: false)
        XCTAssertEqual(budget.spent, Budget.Spend(promptTokens: 12, completionTokens: 20, cost: 0))
        // Once exhausted it stays so: the run stops instead of trickling small requests.
        XCTAssertThrowsError(try budget.reserve(model: "m", promptTokens: 1, maxTokens: 1))
    }

    func testCostPricesCachedTokensApart() throws {
        let price = BudgetConfig.Price(input: 2, cachedInput: 0.5, output: 8)
        let budget = Budget(BudgetConfig(maxCost: 1, prices: ["m": price]))
        let r = try budget.reserve(model: "m", promptTokens: 1000, maxTokens: 1000)
        budget.settle(r, prompt: 1000, cached: 800, completion: 500, failed: false)
        let expected: Double = (200 * 2 + 800 * 0.5 + 500 * 8) / 1e6
        XCTAssertEqual(budget.spent.cost, expected, accuracy: 1e-12)
    }

    func testServingConfigIsValidatedWithPaths() {
        let bad = """
            {"backends": {"srv": {"type": "openai", "model": "m", "base_url": "http://a/v1",
                                  "endpoints": [{"base_url": "ftp://x"}, {"base_url": "http://b/v1", "weight": 0},
                                                {"base_url": "http://b/v1", "wieght": 2}],
                                  "routing": "random", "concurrency": "auto", "tokens_per_minute": 0}},
             "roles": {"asker": {"backend": "srv"}, "assistant": {"backend": "srv"}},
             "run": {"budget": {"max_cost": 5, "prices": {"other": {"input": 1}}}}}
            """
        XCTAssertThrowsError(try Config.parse(bad)) { error in
            let text = "\(error)"
            for expected in [
                "backends.srv.endpoints: give \"base_url\" (one server) or \"endpoints\"",
                "backends.srv.endpoints[0].base_url: expected an http(s) URL",
                "backends.srv.endpoints[1].weight:",
                "backends.srv.endpoints[2].base_url: \"http://b/v1\" is listed twice",
                "backends.srv.endpoints[2].wieght: unknown key (did you mean \"weight\"?)",
                "backends.srv.routing: expected one of", "backends.srv.concurrency: expected one of",
                "backends.srv.tokens_per_minute:", "run.budget.prices.other.output: missing",
                "run.budget.prices: no price for model \"m\" (used by roles.asker)",
            ] {
                XCTAssertTrue(text.contains(expected), "missing \(expected) in:\n\(text)")
            }
        }
    }

    func testAFleetConfigListsItsServers() throws {
        let config = try Config.parse(
            """
            {"backends": {"srv": {"type": "openai", "model": "m", "routing": "round_robin",
                                  "endpoints": [{"base_url": "http://a:1/v1/"},
                                                {"base_url": "http://b:2/v1", "weight": 2}]}},
             "roles": {"asker": {"backend": "srv"}, "assistant": {"backend": "srv"}}}
            """)
        guard case .openai(let c)? = config.backends["srv"] else { return XCTFail("not openai") }
        let expected = [FleetMember(baseURL: "http://a:1/v1"), FleetMember(baseURL: "http://b:2/v1", weight: 2)]
        XCTAssertEqual(c.endpoints, expected)
        XCTAssertEqual(c.baseURL, "http://a:1/v1")
        XCTAssertEqual(c.routing, .roundRobin)
        XCTAssertEqual(c.common.concurrency, .adaptive)
        let engine = try Engine(config: config)
        XCTAssertEqual(engine.endpoints["srv"]?.replicas.map(\.url), ["http://a:1/v1", "http://b:2/v1"])
    }

    /// Three in-process servers, one of which goes down mid-run: nothing fails, the others take its dialogues.
    func testAFleetRoutesAroundAServerThatGoesDown() async throws {
        let servers = (0..<3).map { Server(name: "s\($0)") }
        let members = servers.map { (FleetMember(baseURL: "http://\($0.name)/v1"), $0 as any Backend) }
        let endpoint = ModelEndpoint(
            name: "fleet", servers: members,
            settings: BackendCommon(maxConcurrency: 8, maxRetries: 0))
        func ask(_ d: Int, _ turn: Int) async throws -> String {
            let request = GenerationRequest(
                dialogueID: "d\(d)", messageIndex: turn, role: "assistant", prompt: .text("hi"),
                model: nil, maxTokens: 8, temperature: 0, topP: 1, stop: [], seed: 0)
            return try await endpoint.generate(request).0.text
        }
        var homes: [Int: String] = [:]
        for d in 0..<30 { homes[d] = try await ask(d, 0) }
        for d in 0..<30 {
            let again = try await ask(d, 1)
            XCTAssertEqual(again, homes[d])
        }
        let down = homes[0] ?? ""
        servers.first { $0.name == down }?.down.withLock { $0 = true }
        for d in 0..<30 {
            let now = try await ask(d, 2)  // maxRetries 0: only the hand-over can save it
            XCTAssertNotEqual(now, down)
            if homes[d] != down { XCTAssertEqual(now, homes[d]) }
        }
        XCTAssertEqual(endpoint.replicas.first { $0.url.contains(down) }?.counts.circuitOpens, 1)
        XCTAssertEqual(endpoint.placement.rehomed, homes.values.filter { $0 == down }.count)
    }

    func testAnAdaptiveLimitReportsItsChanges() async throws {
        let backend = #"{"type": "scripted", "words": [4, 12], "concurrency": "adaptive", "max_concurrency": 32}"#
        let config = try scriptedConfig(backend: backend, run: #"{"seed": 1, "concurrency": 64}"#)
        let dir = tempDir()
        let seeds = writeSeeds((0..<64).map { #"{"question": "Question \#($0)?"}"# }, in: dir)
        let events = Locked<[Int]>([])
        let runner = Runner(engine: try Engine(config: config), seeds: .file(seeds), outputDir: dir + "/out") { event in
            if case .limitChanged("fake", "fake", let limit) = event { events.withLock { $0.append(limit) } }
        }
        let summary = try await runner.run()
        XCTAssertEqual(summary.stats.finished, 64)
        // Slow start from 4: the limit doubles per window (on a loaded machine latency noise may
        // cut it after the first window, so only the first doubling is certain).
        let reported = events.withLock { $0 }
        XCTAssertEqual(reported.first, 8)
        let json = try JSONSerialization.jsonObject(with: Data(summary.json.utf8)) as? [String: Any]
        let fake = (json?["serving"] as? [String: Any])?["fake"] as? [String: Any]
        let server = (fake?["endpoints"] as? [[String: Any]])?.first
        let trace = (server?["limit_trace"] as? [[Double]])?.map { Int($0[1]) } ?? []
        XCTAssertEqual(trace.first, 4)
        XCTAssertEqual(Array(trace.dropFirst()), reported, "the summary's trace is the events reported")
        XCTAssertEqual(server?["max_limit"] as? Int, 32, "the ceiling: max_concurrency")
        XCTAssertLessThanOrEqual(reported.max() ?? 0, 32, "never above max_concurrency")
    }

    /// An in-process server that answers with its name, or refuses when down.
    final class Server: Backend {
        let name: String
        let down = Locked(false)
        let tokenCounter: any TokenCounter = EstimatingTokenCounter()
        init(name: String) { self.name = name }

        func generate(_ request: GenerationRequest) async throws -> GenerationResult {
            if down.withLock({ $0 }) { throw BackendError("refused", retryable: true, kind: "refused") }
            return GenerationResult(text: name, promptTokens: 1, completionTokens: 1)
        }

        func probe() async -> Bool { !down.withLock { $0 } }
    }
}

extension Dictionary where Key == String, Value == String {
    fileprivate func get(_ name: String) -> String? { self[name] }
}

/// `Retry-After` as an HTTP date, in the three forms RFC 9110 has recipients read.
final class HTTPDateTests: XCTestCase {
    func testTheThreeFormsNameTheSameInstant() throws {
        let instant = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT
        let now = Date(timeIntervalSince1970: 1_733_300_000)  // December 2024
        XCTAssertEqual(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now), instant)
        XCTAssertEqual(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: now), instant)
        XCTAssertEqual(HTTPDate.parse("Sun Nov  6 08:49:37 1994", now: now), instant)
        XCTAssertEqual(
            HTTPDate.parse("Thu, 29 Feb 2024 23:59:60 GMT", now: now), Date(timeIntervalSince1970: 1_709_251_200))
        for bad in [
            "", "soon", "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            XCTAssertNil(HTTPDate.parse(bad, now: now), bad)
        }
    }

    func testRetryAfterReadsSecondsAndDates() {
        let now = Date(timeIntervalSince1970: 784_111_777)
        XCTAssertEqual(RetryPolicy.parseRetryAfter(" 12 ", now: now), 12)
        XCTAssertEqual(RetryPolicy.parseRetryAfter("Sun, 06 Nov 1994 08:50:07 GMT", now: now), 30)
        XCTAssertEqual(RetryPolicy.parseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now: now), 0, "a past date")
        XCTAssertNil(RetryPolicy.parseRetryAfter("later", now: now))
    }
}
