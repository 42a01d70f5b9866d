/// Chooses which messages of a view go into a prompt so that it fits the role's
/// context: the system prompt and fixed parts always, then the newest whole exchanges,
/// dropping the oldest first, optionally keeping the first exchange (the topic).
/// Works on per-message token counts, so it costs O(messages), not O(tokens).
public struct ContextWindow: Sendable {
    /// Tokens available for the prompt (context minus generation and margins).
    public var budget: Int
    public var keepFirstExchange: Bool

    public init(budget: Int, keepFirstExchange: Bool = false) {
        self.budget = budget; self.keepFirstExchange = keepFirstExchange
    }

    /// The indices of the messages to keep, in order, or nil when even the newest
    /// exchange cannot fit.
    /// - Parameters:
    ///   - fixed: tokens the prompt costs without any message.
    ///   - costs: tokens each message adds.
    ///   - exchangeStarts: for each message, whether an exchange starts there (a user turn).
    public func select(fixed: Int, costs: [Int], exchangeStarts: [Bool]) -> [Int]? {
        precondition(costs.count == exchangeStarts.count)
        let n = costs.count
        guard n > 0 else { return fixed <= budget ? [] : nil }
        var starts = (0..<n).filter { exchangeStarts[$0] }
        if starts.first != 0 { starts.insert(0, at: 0) }

        // suffix[i] = tokens of messages i..<n
        var suffix = [Int](repeating: 0, count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + costs[i] }

        let firstEnd = starts.count > 1 ? starts[1] : n
        let firstCost = suffix[0] - suffix[firstEnd]
        // The earliest exchange start whose suffix fits, with the first exchange pinned if asked.
        for s in starts {
            let pinned = keepFirstExchange && s >= firstEnd
            if fixed + suffix[s] + (pinned ? firstCost : 0) <= budget {
                return pinned ? Array(0..<firstEnd) + Array(s..<n) : Array(s..<n)
            }
        }
        // Pinning is a preference: the newest exchange alone is the minimum.
        if keepFirstExchange, let s = starts.last, fixed + suffix[s] <= budget { return Array(s..<n) }
        return nil
    }
}
