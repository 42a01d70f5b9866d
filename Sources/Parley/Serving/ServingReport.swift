/// What the servers did for a run, for `summary.json` (`"serving"`, `"budget"`) and the
/// progress line: per backend and per server, requests, failures, tokens (cached ones
/// apart), the concurrency limit and its trace; the budget's spend.
public struct ServingReport: Sendable {
    public var backends: [String: ModelEndpoint]
    public var budget: Budget?

    public init(_ engine: Engine) {
        backends = engine.endpoints
        budget = engine.budget
    }

    /// Every server's counts added up.
    public var total: Replica.Counts {
        var t = Replica.Counts()
        for endpoint in backends.values {
            for r in endpoint.replicas { t.add(r.counts) }
        }
        return t
    }

    /// The sum of the servers' current concurrency limits.
    public var limit: Int { backends.values.reduce(0) { $0 + $1.replicas.reduce(0) { $0 + $1.limit } } }

    public var servingJSON: JSONValue {
        var out: [String: JSONValue] = [:]
        for (name, endpoint) in backends {
            let placement = endpoint.placement
            var servers: [JSONValue] = []
            var total = Replica.Counts()
            for (i, r) in endpoint.replicas.enumerated() {
                let c = r.counts
                total.add(c)
                var o = c.json
                o["url"] = .string(r.url)
                o["weight"] = .number(r.weight)
                if endpoint.replicas.count > 1 { o["dialogues"] = .number(Double(placement.placed[i])) }
                o["healthy"] = .bool(r.healthy)
                o["concurrency"] = .string(r.concurrency.mode.rawValue)
                o["limit"] = .number(Double(r.limit))
                o["max_limit"] = .number(Double(r.concurrency.ceiling))
                o["limit_trace"] = .array(
                    r.trace.map { t in
                        .array([.number((t.seconds * 1000).rounded() / 1000), .number(Double(t.limit))])
                    })
                servers.append(.object(o))
            }
            var o = total.json
            o["rehomed_dialogues"] = .number(Double(placement.rehomed))
            o["endpoints"] = .array(servers)
            out[name] = .object(o)
        }
        return .object(out)
    }

    public var budgetJSON: JSONValue? {
        guard let budget else { return nil }
        let spent = budget.spent
        var o: [String: JSONValue] = [
            "prompt_tokens": .number(Double(spent.promptTokens)),
            "completion_tokens": .number(Double(spent.completionTokens)),
            "cost": .number((spent.cost * 1e6).rounded() / 1e6),
            "exhausted": .bool(budget.exhausted),
        ]
        if let n = budget.config.maxPromptTokens { o["max_prompt_tokens"] = .number(Double(n)) }
        if let n = budget.config.maxCompletionTokens { o["max_completion_tokens"] = .number(Double(n)) }
        if let x = budget.config.maxCost { o["max_cost"] = .number(x) }
        return .object(o)
    }
}

extension Replica.Counts {
    mutating func add(_ c: Replica.Counts) {
        requests += c.requests
        failures += c.failures
        failureKinds.merge(c.failureKinds, uniquingKeysWith: +)
        rateLimited += c.rateLimited
        promptTokens += c.promptTokens
        cachedPromptTokens += c.cachedPromptTokens
        completionTokens += c.completionTokens
        circuitOpens += c.circuitOpens
    }

    var json: [String: JSONValue] {
        [
            "requests": .number(Double(requests)), "failures": .number(Double(failures)),
            "failure_kinds": .object(failureKinds.mapValues { .number(Double($0)) }),
            "rate_limited": .number(Double(rateLimited)), "prompt_tokens": .number(Double(promptTokens)),
            "cached_prompt_tokens": .number(Double(cachedPromptTokens)),
            "completion_tokens": .number(Double(completionTokens)), "circuit_opens": .number(Double(circuitOpens)),
        ]
    }
}
