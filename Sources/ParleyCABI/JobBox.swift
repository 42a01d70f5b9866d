import FoundationEssentials
import Parley

/// A running job: the runner's task, its outcome, and its event queue.
final class JobBox: @unchecked Sendable {
    enum State: String { case running, done, failed, cancelled }

    private let condition = Condition()
    // Guarded by `condition`:
    private var state = State.running
    private var result: String?
    private var failure: Failure?
    /// Unread events from `eventsHead` on; rendered to JSON only when read.
    private var events: [Event] = []
    private var eventsHead = 0
    /// Threads waiting in `nextEvent`: only they need a wake-up per event. (A wake-up per
    /// message for a host blocked in `wait` cost a futex call and a context switch each.)
    private var eventReaders = 0
    private var task: Task<Void, Never>?
    static let maxEvents = 100_000

    let runner: Runner

    /// Takes the job's output directory at once: a directory another run holds is refused
    /// here (PARLEY_ERR_STATE, naming the holder), not later when the job is waited for.
    init(engine: Engine, spec: JobSpec) throws(Failure) {
        let out = spec.out ?? engine.config.output.dir
        // The event sink needs the box; it is set before the run starts.
        let sink = EventSink()
        runner = Runner(
            engine: engine, seeds: spec.seeds, outputDir: out, shard: spec.shard,
            events: { sink.box?.push(.run($0)) })
        do { try runner.claimDirectory() } catch RunError.busy(let message) {
            throw Failure(.state, message)
        } catch {
            throw Failure(.io, "\(error)")
        }
        sink.box = self
        task = Task.detached { [self] in
            do {
                let summary = try await runner.run(fresh: spec.fresh)
                finish(summary.interrupted ? .cancelled : .done, result: spec.result(summary), failure: nil)
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

    /// Waits, with the lock held, while `busy()`; false when the timeout came first
    /// (a negative timeout waits forever).
    private func waitWhile(_ busy: () -> Bool, timeout: Double) -> Bool {
        let deadline = Self.deadline(timeout)
        while busy() {
            if let deadline {
                if !condition.wait(until: deadline) && busy() { return false }
            } else {
                condition.wait()
            }
        }
        return true
    }

    /// Waits for the end (a negative timeout waits forever).
    func wait(timeout: Double) throws(Failure) -> String {
        condition.lock()
        defer { condition.unlock() }
        guard waitWhile({ state == .running }, timeout: timeout) else {
            throw Failure(.timeout, "the job is still running")
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
        condition.lock()
        defer { condition.unlock() }
        eventReaders += 1
        let arrived = waitWhile({ eventsHead == events.count }, timeout: timeout)
        eventReaders -= 1
        guard arrived else { throw Failure(.timeout, "no event yet") }
        let e = events[eventsHead]
        eventsHead += 1
        compact()
        return e.json
    }

    private func push(_ event: Event) {
        condition.withLock {
            append(event)
            if eventReaders > 0 { condition.broadcast() }
        }
    }

    /// Call with the lock held.
    private func append(_ event: Event) {
        events.append(event)
        if events.count - eventsHead > Self.maxEvents { eventsHead += 1 }  // drop the oldest unread
        compact()
    }

    /// Drops what was read or dropped once it is most of the array, so a host that never
    /// reads events keeps at most `maxEvents` of them.
    private func compact() {
        if eventsHead > 4096 && eventsHead * 2 > events.count {
            events.removeFirst(eventsHead)
            eventsHead = 0
        }
    }

    private enum Event {
        case run(Runner.RunEvent)
        case ended(State)
        var json: String {
            switch self {
            case .run(let e): e.json
            case .ended(let s): #"{"event":"job_ended","state":"\#(s.rawValue)"}"#
            }
        }
    }

    private func finish(_ s: State, result: String?, failure: Failure?) {
        // One step: whoever reads job_ended sees the final state too.
        condition.withLock {
            state = s
            self.result = result
            self.failure = failure
            append(.ended(s))
            condition.broadcast()
        }
    }

    private final class EventSink: @unchecked Sendable {
        weak var box: JobBox?
    }
}
