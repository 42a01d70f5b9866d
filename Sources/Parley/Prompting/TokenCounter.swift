import Synchronization

/// Counts tokens for context windowing. Its requirements run on the caller's executor, as `Backend`'s do.
public protocol TokenCounter: Sendable {
    nonisolated(nonsending) func count(_ text: String) async throws -> Int
    /// Tokens a chat template adds around one message, when the server can say (nil: unknown).
    nonisolated(nonsending) func chatMessageOverhead() async throws -> Int?
    /// The count when it needs no server (a local estimate); nil: await `count`. Read first where every message is
    /// counted: an awaited call allocates its frame on the task (~200 instructions, `benchmarks/callgrind`).
    func countLocally(_ text: String) -> Int?
}

extension TokenCounter {
    nonisolated(nonsending) public func chatMessageOverhead() async throws -> Int? { nil }
    public func countLocally(_ text: String) -> Int? { nil }
}

/// A conservative estimate when no tokenizer is at hand: every digit is a token
/// (common tokenizers split numbers into digits) and the rest costs one token per
/// `charsPerToken` UTF-8 bytes, rounded up. English prose averages about 4 bytes a token.
public struct EstimatingTokenCounter: TokenCounter {
    public var charsPerToken: Double
    public init(charsPerToken: Double = 2.5) { self.charsPerToken = charsPerToken }

    public func count(_ text: String) -> Int { estimate(text) }
    public func countLocally(_ text: String) -> Int? { estimate(text) }

    public func estimate(_ text: String) -> Int {
        // Over the contiguous bytes: every message is counted once, each prompt's fixed texts too.
        let digits = text.withBorrowedUTF8 { utf8 in
            var digits = 0
            for b in utf8 where b >= 0x30 && b <= 0x39 { digits += 1 }
            return digits
        }
        let bytes = text.utf8.count - digits
        return digits + Int((Double(bytes) / charsPerToken).rounded(.up))
    }
}

/// Remembers the counts of a role's fixed texts (system prompts, template parts),
/// which every request of that role needs again. Message counts are cached per
/// dialogue instead (see `TurnStep.Memo`), so this stays small.
final class FixedTextCounts: Sendable {
    private let counts = Locked<[String: Int]>([:])
    private let limit = 4096

    nonisolated(nonsending) func count(_ text: String, with counter: any TokenCounter) async throws -> Int {
        if let n = counts.withLock({ $0[text] }) { return n }
        let n = try await counter.count(text)
        counts.withLock { c in
            if c.count >= limit { c.removeAll(keepingCapacity: true) }
            c[text] = n
        }
        return n
    }
}

/// A few token counts computed once and then read by slot number, without hashing or a lock:
/// every request reads several, and a lock's cache line shared by all threads cost each read a
/// cache miss (`perf annotate`: two thirds of `pthread_mutex_lock`'s time on its first load).
final class CountMemo: @unchecked Sendable {
    /// -1: not computed yet (a count is never negative).
    private let slots: UnsafeMutablePointer<Atomic<Int>>
    private let count: Int

    init(slots count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        for i in 0..<count { (slots + i).initialize(to: Atomic(-1)) }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// The slot's count, computed by `compute` the first time (by each of several callers at once:
    /// they compute the same count).
    @inline(__always)
    nonisolated(nonsending) func value(_ slot: Int, compute: nonisolated(nonsending) () async throws -> Int)
        async throws -> Int
    {
        let known = slots[slot].load(ordering: .relaxed)
        if known >= 0 { return known }
        let n = try await compute()
        slots[slot].store(n, ordering: .relaxed)
        return n
    }
}
