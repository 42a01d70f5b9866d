import Foundation
import Synchronization
import XCTest

@testable import Parley

final class HostBackendTests: XCTestCase {
    let hostConfig = { (concurrency: Int) in
        try scriptedConfig(
            backend: #"{"type": "host", "max_concurrency": \#(concurrency)}"#, turns: #"{"max": 2}"#,
            run: #"{"seed": 1, "concurrency": \#(concurrency)}"#)
    }
    let seeds = (1...16).map { #"{"question": "Host question \#($0)?"}"# }

    func testBlockingCallsRunAllAtOnce() async throws {
        let pool = BlockingPool(idleSeconds: 5)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<32 { group.addTask { () async throws -> Void in try await pool.run { _ = usleep(100_000) } } }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertLessThan(elapsed, .milliseconds(600), "32 blocking calls of 100 ms must overlap (serial: 3.2 s)")
        XCTAssertGreaterThanOrEqual(pool.threadCount, 32)
    }

    func testCallsThatReturnAtOnceKeepThePoolSmall() async throws {
        // The pool used to grow a thread per waiting job (40 here; ~500 from Python).
        let pool = BlockingPool(idleSeconds: 5, cpus: 2)
        let done = Locked(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2000 {
                group.addTask { () async throws -> Void in try await pool.run { done.withLock { $0 += 1 } } }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(done.withLock { $0 }, 2000)
        // 1 unless the machine stalled the pool for 10 ms several times over.
        XCTAssertLessThanOrEqual(pool.threadCount, 8)
    }

    func testBusyCallsOfMillisecondsGrowThePoolToTheCPUs() async throws {
        let pool = BlockingPool(idleSeconds: 5, cpus: 2)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask { () async throws -> Void in
                    try await pool.run {
                        let end = ContinuousClock.now + .milliseconds(3)
                        while ContinuousClock.now < end {}  // a model computing on the CPU
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertGreaterThanOrEqual(pool.threadCount, 2, "one thread was busy all along")
    }

    func testCallbackBackendServesARun() async throws {
        let calls = Locked(0)
        let host = CallbackBackend { request in
            usleep(20_000)  // a blocking model call
            calls.withLock { $0 += 1 }
            return GenerationResult(text: "\(request.role) says hello at \(request.messageIndex)", finishReason: "stop")
        }
        let start = ContinuousClock.now
        let (summary, out) = try await runSynth(try hostConfig(16), seeds: seeds, backends: ["fake": host])
        XCTAssertEqual(summary.stats.finished, 16)
        XCTAssertEqual(calls.withLock { $0 }, 16 * 3)
        // 3 sequential calls per dialogue, all dialogues at once: ~60 ms, not 16 × 60.
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(700))
        let row = try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first)
        XCTAssertEqual(conversation(row)[1].1, "assistant says hello at 1")
    }

    func testANonBlockingCallbackRunsWithoutThePool() async throws {
        let pool = BlockingPool(idleSeconds: 5)
        let calls = Locked(0)
        let host = CallbackBackend(pool: pool, blocking: false) { request in
            calls.withLock { $0 += 1 }
            return GenerationResult(text: "\(request.role) answers \(request.dialogueID) at \(request.messageIndex)")
        }
        let (summary, out) = try await runSynth(try hostConfig(16), seeds: seeds, backends: ["fake": host])
        XCTAssertEqual(summary.stats.finished, 16)
        XCTAssertEqual(calls.withLock { $0 }, 16 * 3)
        XCTAssertEqual(pool.threadCount, 0, "called on the requesting task's thread, not handed to the pool")
        let row = try XCTUnwrap(try readJSONL(out + "/dialogues.jsonl").first)
        XCTAssertTrue(conversation(row)[1].1.hasPrefix("assistant answers "))
    }

    func testTheHostBackendsBlockingFieldIsABoolean() throws {
        let config = try scriptedConfig(backend: #"{"type": "host", "blocking": false}"#)
        guard case .host(let host)? = config.backends["fake"] else { return XCTFail("no host backend") }
        XCTAssertFalse(host.blocking)
        XCTAssertEqual(
            config.fingerprint, try scriptedConfig(backend: #"{"type": "host"}"#).fingerprint,
            "operational: outputs do not depend on it")
        XCTAssertThrowsError(try scriptedConfig(backend: #"{"type": "host", "blocking": 0}"#)) {
            XCTAssertTrue("\($0)".contains("backends.fake.blocking"), "\($0)")
        }
    }

    func testCallbackErrorsFailTheDialogueWithTheHostsMessage() async throws {
        let host = CallbackBackend { _ in throw BackendError("model exploded", retryable: false) }
        let (summary, out) = try await runSynth(
            try hostConfig(4), seeds: Array(seeds.prefix(2)), backends: ["fake": host])
        XCTAssertEqual(summary.stats.failed, 2)
        XCTAssertEqual(
            try readJSONL(out + "/failures.jsonl").first?["reason"] as? String, "model exploded (after 1 attempt)")
    }

    func testAnswersTakeTicketsBeyond32Bits() throws {
        // Tickets count requests: a long-lived engine passes 2^31 (the reader once capped them there).
        let answers = try HostJSON.answers(#"[{"ticket": 4294967296, "text": "x", "prompt_tokens": 3}]"#)
        XCTAssertEqual(answers.map(\.ticket), [4_294_967_296])
        XCTAssertEqual(try answers.first?.result.get().promptTokens, 3)
        XCTAssertThrowsError(try HostJSON.answers(#"[{"ticket": 0, "text": "x"}]"#)) {
            XCTAssertTrue("\($0)".contains("[0].ticket"), "\($0)")
        }
    }

    func testPullQueueServesBatches() async throws {
        let pull = PullBackend()
        let batches = Locked<[Int]>([])
        let stop = Atomic(false)
        let host = Thread {
            while !stop.load(ordering: .relaxed) {
                let batch = pull.take(max: 64, timeout: 0.05)
                if batch.isEmpty { continue }
                batches.withLock { $0.append(batch.count) }
                usleep(5_000)  // one batched generate call
                typealias Answer = (ticket: UInt64, result: Result<GenerationResult, BackendError>)
                let answers = batch.map { t -> Answer in
                    (t.id, .success(GenerationResult(text: "batched reply to \(t.request.role)")))
                }
                if batches.withLock({ $0.count }) % 2 == 0 {
                    for a in answers { pull.submit(a.ticket, a.result) }
                } else {
                    // By position (the C ABI's batches): a ticket no longer taken is passed over, the rest delivered.
                    pull.answer(answers + [(999_999, .success(GenerationResult(text: "stale")))])
                }
            }
        }
        host.start()
        let (summary, _) = try await runSynth(try hostConfig(16), seeds: seeds, backends: ["fake": pull])
        stop.store(true, ordering: .relaxed)
        XCTAssertEqual(summary.stats.finished, 16)
        let sizes = batches.withLock { $0 }
        XCTAssertEqual(sizes.reduce(0, +), 16 * 3)
        XCTAssertGreaterThan(sizes.max() ?? 0, 1, "requests of different dialogues are batched together")
        XCTAssertEqual(pull.pending.queued + pull.pending.taken, 0)
        XCTAssertFalse(pull.submit(999_999, .success(GenerationResult(text: "x"))), "unknown tickets are refused")
    }

    func testCancellingARunReleasesPendingPullRequests() async throws {
        let pull = PullBackend()
        let dir = tempDir()
        let runner = Runner(
            engine: try Engine(config: try hostConfig(8), backends: ["fake": pull]),
            seeds: .lines(seeds), outputDir: dir + "/out")
        let task = Task { try await runner.run() }
        while pull.pending.queued < 8 { try await Task.sleep(nanoseconds: 1_000_000) }
        let taken = pull.take(max: 3, timeout: 0)
        XCTAssertEqual(taken.count, 3)
        task.cancel()
        let summary = try await task.value
        XCTAssertTrue(summary.interrupted)
        XCTAssertEqual(pull.pending.queued + pull.pending.taken, 0)
        XCTAssertFalse(pull.submit(taken[0].id, .success(GenerationResult(text: "late"))))
        pull.answer([(taken[1].id, .success(GenerationResult(text: "late")))])  // passed over
        XCTAssertEqual(pull.pending.queued + pull.pending.taken, 0)
    }

    func testAHostBackendMustBeGiven() throws {
        XCTAssertThrowsError(try Engine(config: try hostConfig(2))) { error in
            XCTAssertTrue("\(error)".hasPrefix("backends.fake: a \"host\" backend needs a model"), "\(error)")
        }
    }

    func testEventsAndInMemorySeeds() async throws {
        let events = Locked<[Runner.RunEvent]>([])
        let dir = tempDir()
        let runner = Runner(
            engine: try Engine(config: try scriptedConfig(turns: #"{"max": 3}"#)),
            seeds: .lines(Array(seeds.prefix(4)) + ["", "not json"]), outputDir: dir + "/out",
            events: { e in events.withLock { $0.append(e) } })
        let summary = try await runner.run()
        XCTAssertEqual(summary.stats.finished, 4)
        XCTAssertEqual(summary.stats.invalidSeeds, 1)
        let all = events.withLock { $0 }
        let started = all.filter { if case .dialogueStarted = $0 { true } else { false } }
        let ended = all.compactMap { e -> String? in
            if case .dialogueEnded(let id, .finished, .maxTurns) = e { id } else { nil }
        }
        let messages = all.filter { if case .message = $0 { true } else { false } }
        XCTAssertEqual(started.count, 4)
        XCTAssertEqual(Set(ended).count, 4)
        XCTAssertEqual(messages.count, summary.stats.messagesGenerated)
    }
}
