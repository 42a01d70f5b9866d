import Foundation
import Parley

/// A running job: the runner's task, its outcome, and its event queue.
final class JobBox: @unchecked Sendable {
    enum State: String { case running, done, failed, cancelled }

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var state = State.running
    private var result: String?
    private var failure: Failure?
    private var events: [String] = []
    private var eventsHead = 0
    private var task: Task<Void, Never>?
    static let maxEvents = 100_000

    let runner: Runner

    init(engine: Engine, spec: JobSpec) {
        let out = spec.out ?? engine.config.output.dir
        // The event sink needs the box; it is set before the run starts.
        let sink = EventSink()
        runner = Runner(engine: engine, seeds: spec.seeds, outputDir: out, events: { sink.box?.push($0.json) })
        sink.box = self
        task = Task.detached { [self] in
            do {
                let summary = try await runner.run(fresh: spec.fresh)
                finish(summary.interrupted ? .cancelled : .done, result: spec.result(summary), failure: nil)
            } catch let error as RunError {
                finish(.failed, result: nil, failure: Failure(.io, error.description))
            } catch {
                finish(.failed, result: nil, failure: Failure(.io, "\(error)"))
            }
        }
    }

    func cancel() { condition.withLock { task }?.cancel() }

    var progress: String {
        let s = condition.withLock { state }
        return runner.progress.json(state: s.rawValue)
    }

    /// Waits for the end (a negative timeout waits forever).
    func wait(timeout: Double) throws(Failure) -> String {
        let deadline = Self.deadline(timeout)
        condition.lock()
        defer { condition.unlock() }
        while state == .running {
            if let deadline {
                if !condition.wait(until: deadline) && state == .running { throw Failure(.timeout, "the job is still running") }
            } else {
                condition.wait()
            }
        }
        switch state {
        case .done: return result ?? "{}"
        case .cancelled: throw Failure(.cancelled, "the job was cancelled; run it again on the same \"out\" to resume")
        default: throw failure ?? Failure(.internal, "the job failed without a reason")
        }
    }

    /// nil waits forever (a negative or infinite timeout); very long timeouts are capped
    /// so the date stays representable.
    static func deadline(_ timeout: Double) -> Date? {
        guard timeout >= 0, timeout.isFinite else { return nil }
        return Date(timeIntervalSinceNow: min(timeout, 1e7))
    }

    /// The result of a cancelled job (its summary so far), for callers that want it.
    var partialResult: String? { condition.withLock { result } }

    func nextEvent(timeout: Double) throws(Failure) -> String {
        let deadline = Self.deadline(timeout)
        condition.lock()
        defer { condition.unlock() }
        while eventsHead == events.count {
            if let deadline {
                if !condition.wait(until: deadline) && eventsHead == events.count { throw Failure(.timeout, "no event yet") }
            } else {
                condition.wait()
            }
        }
        let e = events[eventsHead]
        eventsHead += 1
        if eventsHead > 4096 && eventsHead * 2 > events.count { events.removeFirst(eventsHead); eventsHead = 0 }
        return e
    }

    private func push(_ event: String) {
        condition.withLock { append(event) }
    }

    /// Call with the lock held.
    private func append(_ event: String) {
        events.append(event)
        if events.count - eventsHead > Self.maxEvents { eventsHead += 1 }  // drop the oldest unread
        condition.broadcast()
    }

    private func finish(_ s: State, result: String?, failure: Failure?) {
        // One step: whoever reads job_ended sees the final state too.
        condition.withLock {
            state = s
            self.result = result
            self.failure = failure
            append(#"{"event":"job_ended","state":"\#(s.rawValue)"}"#)
        }
    }

    private final class EventSink: @unchecked Sendable {
        weak var box: JobBox?
    }
}
