import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `run.durability: "fsync"`: one thread makes the run's writes durable in groups, so one
/// `fdatasync` covers every line written since the last, whatever the concurrency.
///
/// Lines are written as in `"process"` mode. A dialogue's end record, whose `sizes` claim its
/// rows, is written only after a sync of the output files covers those rows, and the dialogue
/// counts as ended only once a sync of the journal covers the end record: after a power loss
/// the journal never claims a row the disk lost. Journal lines between ends (messages, starts)
/// are synced within `interval`; one lost in a crash is generated again on resume.
final class GroupCommit: @unchecked Sendable {
    /// The longest a written journal line waits for its sync.
    static let interval = 0.005

    private let journal: Journal
    private let outputs: [Int32]
    private let condition = Condition()
    // Guarded by `condition`:
    private var pending: [(ticket: UInt64, end: @Sendable () throws -> Void)] = []
    private var issued: UInt64 = 0
    private var durable: UInt64 = 0
    private var waiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    private var failure: RunError?
    private var closing = false
    private var finished = false

    /// - Parameters:
    ///   - outputs: the output files' descriptors, kept open by their owner until `stop()` returns.
    ///   - directory: synced once, so the files' entries in it are durable too.
    init(journal: Journal, outputs: [Int32], directory: String) throws {
        self.journal = journal
        self.outputs = outputs
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
        guard startThread({ [self] in loop() }) else {
            throw RunError.io("cannot start the group commit's thread (run.durability \"fsync\")")
        }
    }

    /// Queues an end record, to be written once the rows already appended are durable.
    /// Call in the order the rows were appended; wait for the ticket with `wait`.
    func enqueue(_ end: @escaping @Sendable () throws -> Void) -> UInt64 {
        condition.withLock {
            issued += 1
            pending.append((issued, end))
            condition.signal()
            return issued
        }
    }

    /// Returns once the ticket's end record is durable; throws if a write or sync failed.
    nonisolated(nonsending) func wait(_ ticket: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            condition.lock()
            defer { condition.unlock() }
            if let failure {
                continuation.resume(throwing: failure)
            } else if durable >= ticket {
                continuation.resume()
            } else {
                waiters[ticket] = continuation
            }
        }
    }

    /// Syncs what is left, then stops the thread (blocks until it has).
    func stop() {
        condition.withLock {
            closing = true
            condition.signal()
            while !finished { condition.wait() }
        }
    }

    private func loop() {
        var syncedJournal = -1
        var lastSync = Date.distantPast
        condition.lock()
        while true {
            // Ends waiting go at once; other journal lines at most every `interval`.
            while pending.isEmpty && !closing {
                let due = lastSync.addingTimeInterval(Self.interval)
                if journal.size != syncedJournal && due <= Date() { break }
                _ = condition.wait(until: max(due, Date(timeIntervalSinceNow: Self.interval / 5)))
            }
            let batch = pending
            pending = []
            let stop = closing && batch.isEmpty
            condition.unlock()
            var failed: RunError?
            do {
                if !batch.isEmpty {
                    for fd in outputs { try Self.sync(fd, "an output file") }
                    for item in batch { try item.end() }
                }
                let size = journal.size
                if size != syncedJournal {
                    try journal.sync()
                    syncedJournal = size
                }
            } catch {
                failed = error as? RunError ?? RunError.io("\(error)")
            }
            lastSync = Date()
            condition.lock()
            if let failed, failure == nil { failure = failed }
            if failure == nil, let last = batch.last?.ticket { durable = last }
            for ticket in waiters.keys where ticket <= durable || failure != nil {
                let continuation = waiters.removeValue(forKey: ticket)
                if let failure { continuation?.resume(throwing: failure) } else { continuation?.resume() }
            }
            if stop { break }
        }
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    static func sync(_ fd: Int32, _ what: String) throws {
        while fdatasync(fd) != 0 {
            if errno == EINTR { continue }
            throw RunError.io("cannot sync \(what): \(String(cString: strerror(errno)))")
        }
    }
}
