import Foundation
import Synchronization
import XCTest

@testable import Parley

final class EndQueueTests: XCTestCase {
    /// An end that records which thread made its rows and which wrote them.
    private func end(_ log: Locked<[String]>, _ name: String, fails: Bool = false) -> EndQueue.End {
        {
            let rowsThread = pthread_self()
            return {
                if fails { throw RunError.io("disk full writing \(name)") }
                log.withLock { $0.append(name + (pthread_equal(rowsThread, pthread_self()) != 0 ? "" : "?")) }
            }
        }
    }

    /// Writes `end` as `DatasetWriter.commit` does: through the queue, or at once when it is handed back.
    private func commit(_ end: @escaping EndQueue.End, to queue: EndQueue) throws {
        if try !queue.offer(end) { try end()() }
    }

    func testTheThreadWritesWhatIsQueuedAndCloseWritesTheRest() throws {
        let queue = EndQueue(limit: 100)
        let log = Locked<[String]>([])
        for i in 0..<40 { try commit(end(log, "a\(i)"), to: queue) }
        // An idle machine: the thread of idle priority gets the CPU and writes what was queued.
        let deadline = Date(timeIntervalSinceNow: 10)
        while log.withLock({ $0.count }) < 40 && Date() < deadline { usleep(1_000) }
        XCTAssertEqual(log.withLock { $0 }, (0..<40).map { "a\($0)" }, "in order, rows and write on one thread")
        for i in 0..<5 { try commit(end(log, "b\(i)"), to: queue) }
        try queue.close()
        XCTAssertEqual(log.withLock { $0.count }, 45, "close writes what is still queued")
        XCTAssertFalse(try queue.offer(end(log, "late")), "a closed queue hands ends back to their callers")
        try queue.close()  // a second close does nothing
    }

    func testAFullQueueHandsEndsBack() throws {
        let queue = EndQueue(limit: 2)
        let log = Locked<[String]>([])
        let gate = DispatchSemaphore(value: 0)
        // The first end holds the thread, so the next ones stay queued.
        XCTAssertTrue(
            try queue.offer({
                gate.wait()
                return {}
            }))
        let deadline = Date(timeIntervalSinceNow: 10)
        var accepted = 0
        while accepted < 2 && Date() < deadline {
            if try queue.offer(end(log, "q\(accepted)")) { accepted += 1 }
        }
        XCTAssertFalse(try queue.offer(end(log, "over")), "the third end is over the limit")
        gate.signal()
        try queue.close()
        XCTAssertEqual(log.withLock { $0 }.sorted(), ["q0", "q1"])
    }

    func testAFailedWriteStopsTheRun() throws {
        let queue = EndQueue(limit: 100)
        let log = Locked<[String]>([])
        XCTAssertTrue(try queue.offer(end(log, "bad", fails: true)))
        let deadline = Date(timeIntervalSinceNow: 10)
        var failure: (any Error)?
        while failure == nil && Date() < deadline {
            do { _ = try queue.offer(end(log, "next")) } catch { failure = error }
            usleep(1_000)
        }
        XCTAssertTrue("\(failure.map { "\($0)" } ?? "no failure")".contains("disk full writing bad"))
        XCTAssertThrowsError(try queue.close()) { XCTAssertTrue("\($0)".contains("disk full")) }
    }
}
