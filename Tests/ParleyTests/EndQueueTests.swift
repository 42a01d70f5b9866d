import Foundation
import Synchronization
import XCTest

@testable import Parley

final class EndQueueTests: XCTestCase {
    /// An end that logs its name once written.
    private static func end(_ log: Locked<[String]>, _ name: String, fails: Bool = false) -> EndQueue.End {
        {
            {
                if fails { throw RunError.io("disk full writing \(name)") }
                log.withLock { $0.append(name) }
            }
        }
    }

    private func waitFor(_ log: Locked<[String]>, count: Int) {
        let deadline = Date(timeIntervalSinceNow: 10)
        while log.withLock({ $0.count }) < count && Date() < deadline { usleep(1_000) }
    }

    func testEndsAreWrittenInOrderAndCloseWritesTheRest() throws {
        let queue = EndQueue(limit: 100)
        let log = Locked<[String]>([])
        for i in 0..<40 { try queue.add(Self.end(log, "a\(i)")) }
        // An idle machine: the thread of idle priority gets the CPU and writes what was added (or, had it been
        // kept off the CPU, the adding thread did).
        waitFor(log, count: 40)
        XCTAssertEqual(log.withLock { $0 }, (0..<40).map { "a\($0)" })
        for i in 0..<5 { try queue.add(Self.end(log, "b\(i)")) }
        try queue.close()
        XCTAssertEqual(log.withLock { $0 }, (0..<40).map { "a\($0)" } + (0..<5).map { "b\($0)" })
        try queue.add(Self.end(log, "late"))
        XCTAssertEqual(log.withLock { $0.last }, "late", "once closed, an end is written by its caller")
        try queue.close()  // a second close does nothing
    }

    func testACallerPastTheLimitWritesAfterWhatWasAddedBefore() throws {
        let queue = EndQueue(limit: 1)
        let log = Locked<[String]>([])
        let (taken, gate) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        // The thread takes this end and is held making its rows.
        try queue.add {
            taken.signal()
            gate.wait()
            return { log.withLock { $0.append("held") } }
        }
        XCTAssertEqual(taken.wait(timeout: .now() + 10), .success)
        try queue.add(Self.end(log, "queued"))  // the one end the limit lets wait
        let past = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? queue.add(Self.end(log, "past"))  // over the limit: written by this caller, after the others
            past.signal()
        }
        usleep(50_000)
        XCTAssertEqual(log.withLock { $0 }, [], "the caller waits its turn behind the end being written")
        gate.signal()
        XCTAssertEqual(past.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(log.withLock { $0 }, ["held", "queued", "past"])
        try queue.close()
    }

    /// With no CPU idle, callers write ends, each making its rows on its own thread; a caller that finds another
    /// writing returns at once, and the one writing writes its end after its own.
    func testWhenNoCPUIsIdleACallerLeavesItsEndToTheOneWriting() throws {
        let queue = EndQueue(limit: 100, busy: true)
        let (log, made) = (Locked<[String]>([]), Locked<[String]>([]))
        let (writing, gate, firstReturned) = (
            DispatchSemaphore(value: 0), DispatchSemaphore(value: 0),
            DispatchSemaphore(value: 0)
        )
        DispatchQueue.global().async {
            try? queue.add {
                {
                    writing.signal()
                    gate.wait()
                    log.withLock { $0.append("first") }
                }
            }
            firstReturned.signal()
        }
        XCTAssertEqual(writing.wait(timeout: .now() + 10), .success)
        let secondReturned = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? queue.add {
                made.withLock { $0.append("second") }
                return { log.withLock { $0.append("second") } }
            }
            secondReturned.signal()
        }
        XCTAssertEqual(
            secondReturned.wait(timeout: .now() + 5), .success, "its caller did not wait for the write in progress")
        XCTAssertEqual(made.withLock { $0 }, ["second"], "its rows were made by its caller")
        XCTAssertEqual(log.withLock { $0 }, [])
        gate.signal()
        XCTAssertEqual(firstReturned.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(log.withLock { $0 }, ["first", "second"], "the caller writing wrote it, in order")
        try queue.close()
    }

    func testAFailedWriteStopsTheRun() throws {
        let queue = EndQueue(limit: 100)
        let log = Locked<[String]>([])
        try queue.add(Self.end(log, "bad", fails: true))
        let deadline = Date(timeIntervalSinceNow: 10)
        var failure: (any Error)?
        while failure == nil && Date() < deadline {
            do { try queue.add(Self.end(log, "next")) } catch { failure = error }
            usleep(1_000)
        }
        XCTAssertTrue("\(failure.map { "\($0)" } ?? "no failure")".contains("disk full writing bad"))
        XCTAssertThrowsError(try queue.close()) { XCTAssertTrue("\($0)".contains("disk full")) }
    }
}
