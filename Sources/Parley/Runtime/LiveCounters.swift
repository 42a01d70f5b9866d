import Synchronization

/// A run's counts as it goes (`Runner.progress`), each its own atomic: every message adds to two
/// of them from whichever thread runs its dialogue, and one lock around them all made each update
/// a lock and an unlock of a cache line that every thread writes.
final class LiveCounters: Sendable {
    let totalSeeds = Atomic<Int>(0)
    let ended = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let messages = Atomic<Int>(0)
    let tokens = Atomic<Int>(0)
    let inFlight = Atomic<Int>(0)
    let resumedEnded = Atomic<Int>(0)

    /// The counts now, each read on its own (a progress line, not a transaction).
    var snapshot: Runner.LiveCounts {
        Runner.LiveCounts(
            totalSeeds: totalSeeds.load(ordering: .relaxed), ended: ended.load(ordering: .relaxed),
            failed: failed.load(ordering: .relaxed), messages: messages.load(ordering: .relaxed),
            tokens: tokens.load(ordering: .relaxed), inFlight: inFlight.load(ordering: .relaxed),
            resumedEnded: resumedEnded.load(ordering: .relaxed))
    }

    /// A message or recipe record made, and the tokens it cost.
    func recorded(tokens n: Int) {
        messages.add(1, ordering: .relaxed)
        tokens.add(n, ordering: .relaxed)
    }

    /// A dialogue ended.
    func dialogueEnded(failed: Bool) {
        ended.add(1, ordering: .relaxed)
        if failed { self.failed.add(1, ordering: .relaxed) }
    }
}
