/// Counts tokens for context windowing.
public protocol TokenCounter: Sendable {
    func count(_ text: String) async throws -> Int
    /// Tokens a chat template adds around one message, when the server can say (nil: unknown).
    func chatMessageOverhead() async throws -> Int?
}

extension TokenCounter {
    public func chatMessageOverhead() async throws -> Int? { nil }
}

/// A conservative estimate when no tokenizer is at hand: every digit is a token
/// (common tokenizers split numbers into digits) and the rest costs one token per
/// `charsPerToken` UTF-8 bytes, rounded up. English prose averages about 4 bytes a token.
public struct EstimatingTokenCounter: TokenCounter {
    public var charsPerToken: Double
    public init(charsPerToken: Double = 2.5) { self.charsPerToken = charsPerToken }

    public func count(_ text: String) -> Int { estimate(text) }

    public func estimate(_ text: String) -> Int {
        var text = text
        // Over the contiguous bytes: every message is counted once, each prompt's fixed texts too.
        let digits = text.withUTF8 { utf8 in
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
/// dialogue instead (see `TokenCache`), so this stays small.
final class FixedTextCounts: Sendable {
    private let counts = Locked<[String: Int]>([:])
    private let limit = 4096

    func count(_ text: String, with counter: any TokenCounter) async throws -> Int {
        if let n = counts.withLock({ $0[text] }) { return n }
        let n = try await counter.count(text)
        counts.withLock { c in
            if c.count >= limit { c.removeAll(keepingCapacity: true) }
            c[text] = n
        }
        return n
    }
}

/// A few values computed once and then read by slot number, without hashing.
final class SlotMemo<Value: Sendable>: Sendable {
    private let values: Locked<[Value?]>

    init(slots: Int) { values = Locked(Array(repeating: nil, count: slots)) }

    func value(_ slot: Int, compute: () async throws -> Value) async throws -> Value {
        if let v = values.withLock({ $0[slot] }) { return v }
        let v = try await compute()
        values.withLock { $0[slot] = v }
        return v
    }

    func value(_ slot: Int, compute: () -> Value) -> Value {
        if let v = values.withLock({ $0[slot] }) { return v }
        let v = compute()
        values.withLock { $0[slot] = v }
        return v
    }
}
