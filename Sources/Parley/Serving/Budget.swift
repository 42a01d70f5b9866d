/// The run's budget (`run.budget`). Every request reserves the most it could spend (its
/// counted prompt tokens, its `max_tokens`, priced without cache) before it starts; one
/// that does not fit beside what is spent and reserved is never started, and from then on
/// the budget is exhausted: the run stops starting requests, lets those in flight finish,
/// and ends resumable. The answer's usage replaces the reservation.
public final class Budget: Sendable {
    public let config: BudgetConfig

    /// Spent (or reserved) so far.
    public struct Spend: Sendable, Equatable {
        public var promptTokens = 0
        public var completionTokens = 0
        public var cost = 0.0
    }

    /// What one request holds until it is settled.
    public struct Reservation: Sendable {
        var spend: Spend
        var model: String
    }

    private struct State {
        var spent = Spend()
        var reserved = Spend()
        var exhausted = false
    }

    private let state = Locked(State())

    public init(_ config: BudgetConfig) { self.config = config }

    public var spent: Spend { state.withLock { $0.spent } }
    public var exhausted: Bool { state.withLock { $0.exhausted } }

    /// Counts what earlier runs of the directory spent (from the journal). Cached prompt
    /// tokens are not journaled, so they are priced as uncached: a resumed run never overspends.
    public func restore(promptTokens: Int, completionTokens: Int) {
        let priciest = config.prices.values
        let cost =
            Double(promptTokens) * (priciest.map(\.input).max() ?? 0) / 1e6
            + Double(completionTokens) * (priciest.map(\.output).max() ?? 0) / 1e6
        state.withLock { s in
            s.spent = Spend(promptTokens: promptTokens, completionTokens: completionTokens, cost: cost)
        }
    }

    /// Reserves a request's worst case, or throws `BudgetExhausted`.
    public func reserve(model: String, promptTokens: Int, maxTokens: Int) throws(BudgetExhausted) -> Reservation {
        var need = Spend(promptTokens: promptTokens, completionTokens: maxTokens)
        if let p = config.prices[model] {
            need.cost = (Double(promptTokens) * p.input + Double(maxTokens) * p.output) / 1e6
        }
        return try state.withLock { s throws(BudgetExhausted) in
            let total = Spend(
                promptTokens: s.spent.promptTokens + s.reserved.promptTokens + need.promptTokens,
                completionTokens: s.spent.completionTokens + s.reserved.completionTokens
                    + need.completionTokens,
                cost: s.spent.cost + s.reserved.cost + need.cost)
            if s.exhausted || !fits(total) {
                s.exhausted = true
                throw BudgetExhausted()
            }
            s.reserved.promptTokens += need.promptTokens
            s.reserved.completionTokens += need.completionTokens
            s.reserved.cost += need.cost
            return Reservation(spend: need, model: model)
        }
    }

    /// Replaces a reservation with what the request used (nil: nothing, it failed).
    /// Usage the server did not report counts as reserved.
    public func settle(_ r: Reservation, prompt: Int?, cached: Int?, completion: Int?, failed: Bool) {
        var used = Spend()
        if !failed {
            used.promptTokens = prompt ?? r.spend.promptTokens
            used.completionTokens = completion ?? r.spend.completionTokens
            if let p = config.prices[r.model] {
                let cachedTokens = min(cached ?? 0, used.promptTokens)
                used.cost =
                    (Double(used.promptTokens - cachedTokens) * p.input + Double(cachedTokens) * p.cachedInput
                        + Double(used.completionTokens) * p.output) / 1e6
            }
        }
        state.withLock { s in
            s.reserved.promptTokens -= r.spend.promptTokens
            s.reserved.completionTokens -= r.spend.completionTokens
            s.reserved.cost -= r.spend.cost
            s.spent.promptTokens += used.promptTokens
            s.spent.completionTokens += used.completionTokens
            s.spent.cost += used.cost
        }
    }

    private func fits(_ total: Spend) -> Bool {
        if let max = config.maxPromptTokens, total.promptTokens > max { return false }
        if let max = config.maxCompletionTokens, total.completionTokens > max { return false }
        if let max = config.maxCost, total.cost > max + 1e-12 { return false }
        return true
    }
}

/// The run's budget cannot cover another request: the run stops, resumable.
public struct BudgetExhausted: Error, Sendable, CustomStringConvertible {
    public init() {}
    public var description: String { "the run's budget is spent (run.budget)" }
}
