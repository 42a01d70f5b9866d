import XCTest

@testable import Parley

final class RequestLimiterTests: XCTestCase {
    final class Count: Sendable {
        private let n = Locked(0)
        func add() { n.withLock { $0 += 1 } }
        var value: Int { n.withLock { $0 } }
    }

    /// Acquires in a task and counts when it got through.
    func waiter(_ limiter: RequestLimiter, _ done: Count) -> Task<Void, any Error> {
        Task {
            try await limiter.acquire()
            done.add()
        }
    }

    func testWaitersGetSlotsInTurnAndWhenTheLimitGrows() async throws {
        let limiter = RequestLimiter(limit: 1)
        let done = Count()
        try await limiter.acquire()
        let a = waiter(limiter, done)
        let b = waiter(limiter, done)
        try await Task.sleep(nanoseconds: 20_000_000)
        XCTAssertEqual(done.value, 0, "both wait while the one slot is held")

        limiter.release()  // the slot passes to one waiter
        try await Task.sleep(nanoseconds: 20_000_000)
        XCTAssertEqual(done.value, 1)
        XCTAssertEqual(limiter.inFlight, 1)

        limiter.setLimit(2)  // a larger limit wakes the other at once
        _ = try await (a.value, b.value)
        XCTAssertEqual(done.value, 2)
        XCTAssertEqual(limiter.inFlight, 2)
    }

    func testALowerLimitTakesSlotsBackAsRequestsEnd() async throws {
        let limiter = RequestLimiter(limit: 4)
        for _ in 0..<4 { try await limiter.acquire() }
        let done = Count()
        let waiting = (0..<3).map { _ in waiter(limiter, done) }
        try await Task.sleep(nanoseconds: 20_000_000)
        limiter.setLimit(2)
        limiter.release()
        limiter.release()  // 2 in flight: at the new limit, nobody may start
        try await Task.sleep(nanoseconds: 20_000_000)
        XCTAssertEqual(done.value, 0)
        XCTAssertEqual(limiter.inFlight, 2)
        limiter.release()  // below it: one waiter starts
        try await Task.sleep(nanoseconds: 20_000_000)
        XCTAssertEqual(done.value, 1)
        XCTAssertEqual(limiter.inFlight, 2)
        for task in waiting { task.cancel() }
    }

    func testCancelledWaitersLeaveTheQueue() async throws {
        let limiter = RequestLimiter(limit: 1)
        try await limiter.acquire()
        let done = Count()
        let task = waiter(limiter, done)
        try await Task.sleep(nanoseconds: 10_000_000)
        task.cancel()
        do {
            try await task.value
            XCTFail("a cancelled waiter must throw")
        } catch is CancellationError {}
        limiter.release()
        XCTAssertEqual(limiter.inFlight, 0, "the released slot went to nobody")
    }
}
