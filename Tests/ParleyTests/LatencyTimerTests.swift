import Foundation
import XCTest

@testable import Parley

final class LatencyTimerTests: XCTestCase {
    /// Sleepers are resumed by the timer thread or by another request beginning to sleep: either way none
    /// returns before its time, and every one returns. 400 sleeps of 0–30 ms, begun in waves.
    func testNoSleeperReturnsEarlyWhoeverResumesIt() async throws {
        let early = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<400 {
                group.addTask {
                    let seconds = Double(i * 7919 % 31) / 1000
                    let start = MonotonicTime.seconds()
                    try await LatencyTimer.shared.sleep(seconds: seconds)
                    return MonotonicTime.seconds() - start < seconds
                }
                if i % 50 == 49 { try await Task.sleep(for: .milliseconds(3)) }
            }
            var returned: [Bool] = []
            for try await wasEarly in group { returned.append(wasEarly) }
            return returned
        }
        XCTAssertEqual(early.count, 400)
        XCTAssertEqual(early.filter { $0 }.count, 0)
    }

    /// A cancelled sleeper throws (it does not wait out its 30 s), and the sleepers after it still return.
    func testACancelledSleeperThrows() async throws {
        let sleeper = Task { try await LatencyTimer.shared.sleep(seconds: 30) }
        try await Task.sleep(for: .milliseconds(20))
        sleeper.cancel()
        do {
            try await sleeper.value
            XCTFail("a cancelled sleep returned")
        } catch is CancellationError {}
        try await LatencyTimer.shared.sleep(seconds: 0.001)
    }
}
