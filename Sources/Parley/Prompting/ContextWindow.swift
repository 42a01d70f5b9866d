/// Chooses which messages of a view go into a prompt so that it fits the role's
/// context: the system prompt and fixed parts always, then the newest whole exchanges,
/// dropping the oldest first, optionally keeping the first exchange (the topic).
/// Works on per-message token counts, so it costs O(messages), not O(tokens).
public struct ContextWindow: Sendable {
    /// Tokens available for the prompt (context minus generation and margins).
    public var budget: Int
    public var keepFirstExchange: Bool

    public init(budget: Int, keepFirstExchange: Bool = false) {
        self.budget = budget
        self.keepFirstExchange = keepFirstExchange
    }

    /// The kept messages: `0..<pinned` (the first exchange, when pinned) and `from..<count`.
    public struct Selection: Sendable, Equatable {
        public var pinned: Int
        public var from: Int
        public func indices(count: Int) -> [Int] { Array(0..<pinned) + Array(from..<count) }
    }

    /// The messages to keep, or nil when even the newest exchange cannot fit.
    /// - Parameters:
    ///   - fixed: tokens the prompt costs without any message.
    ///   - costs: tokens each message adds.
    ///   - exchangeStarts: for each message, whether an exchange starts there (a user turn).
    public func select(fixed: Int, costs: [Int], exchangeStarts: [Bool]) -> Selection? {
        precondition(costs.count == exchangeStarts.count)
        let n = costs.count
        guard n > 0 else { return fixed <= budget ? Selection(pinned: 0, from: 0) : nil }
        // The first exchange ends where the second starts.
        let firstEnd = (1..<n).first { exchangeStarts[$0] } ?? n
        let firstCost = costs[0..<firstEnd].reduce(0, +)

        // Walk exchange starts from the newest back while the prompt still fits
        // (an older start never costs less, pinned or not).
        var suffix = 0
        var best: Selection?
        for i in stride(from: n - 1, through: 0, by: -1) {
            suffix += costs[i]
            guard i == 0 || exchangeStarts[i] else { continue }
            let pinned = keepFirstExchange && i >= firstEnd ? firstEnd : 0
            guard fixed + suffix + (pinned > 0 ? firstCost : 0) <= budget else { break }
            best = Selection(pinned: pinned, from: i)
        }
        if best == nil, keepFirstExchange {
            // Pinning is a preference: the newest exchange alone is the minimum.
            let last = (0..<n).last { $0 == 0 || exchangeStarts[$0] } ?? 0
            if fixed + costs[last...].reduce(0, +) <= budget { best = Selection(pinned: 0, from: last) }
        }
        return best
    }
}
