import FoundationEssentials

/// The serving settings of the config: fleets, concurrency, rate limits and the budget.
extension Config {
    /// `base_url` (one server) or `endpoints` (a fleet of servers of the same model), and `routing`.
    static func parseFleet(_ o: ObjectReader, _ c: inout OpenAIConfig) {
        if let r = o.oneOf("routing", Routing.allCases.map(\.rawValue), .operational) {
            c.routing = Routing(rawValue: r) ?? .affinity
        }
        let single = o.has("base_url")
        if let u = o.string("base_url", nonEmpty: true, .operational), let url = parseURL(u, o, key: "base_url") {
            c.endpoints = [FleetMember(baseURL: url)]
        }
        if let list = o.raw("endpoints", .operational) {
            let path = o.childPath("endpoints")
            guard case .array(let items) = list, !items.isEmpty else {
                let got = list.shortDescription
                o.reader.report(path, "expected a non-empty array of {\"base_url\", \"weight\"}, got \(got)")
                return
            }
            if single { o.reader.report(path, "give \"base_url\" (one server) or \"endpoints\" (a fleet), not both") }
            var seen: Set<String> = []
            c.endpoints = []
            for (i, item) in items.enumerated() {
                guard let e = o.reader.object(item, at: "\(path)[\(i)]") else { continue }
                defer { e.finish() }
                let weight = e.double("weight", min: 0.000_001) ?? 1
                guard let u = e.string("base_url", nonEmpty: true) else {
                    if !e.has("base_url") { e.reader.report(e.childPath("base_url"), "missing: the server's URL") }
                    continue
                }
                guard let url = parseURL(u, e, key: "base_url") else { continue }
                if !seen.insert(url).inserted { e.reader.report(e.childPath("base_url"), "\"\(url)\" is listed twice") }
                c.endpoints.append(FleetMember(baseURL: url, weight: weight))
            }
        } else if !single {
            o.reader.report(o.childPath("base_url"), "missing: the server's URL, e.g. \"http://127.0.0.1:8080/v1\"")
        }
        c.baseURL = c.endpoints.first?.baseURL ?? ""
    }

    private static func parseURL(_ u: String, _ o: ObjectReader, key: String) -> String? {
        guard let url = URL(string: u), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            o.reader.report(o.childPath(key), "expected an http(s) URL, got \"\(u)\"")
            return nil
        }
        return u.hasSuffix("/") ? String(u.dropLast()) : u
    }

    static func parseRateLimits(_ o: ObjectReader, _ r: inout RateLimitConfig) {
        r.requestsPerMinute = o.double("requests_per_minute", min: 0.001, .operational)
        r.tokensPerMinute = o.double("tokens_per_minute", min: 1, .operational)
        r.inputTokensPerMinute = o.double("input_tokens_per_minute", min: 1, .operational)
        r.outputTokensPerMinute = o.double("output_tokens_per_minute", min: 1, .operational)
    }

    static func parseBudget(_ o: ObjectReader) -> BudgetConfig {
        defer { o.finish() }
        var b = BudgetConfig()
        b.maxPromptTokens = o.int("max_prompt_tokens", min: 0, max: Int.max)
        b.maxCompletionTokens = o.int("max_completion_tokens", min: 0, max: Int.max)
        b.maxCost = o.double("max_cost")
        if let prices = o.object("prices") {
            for model in prices.fields.keys.sorted() {
                guard let p = prices.object(model) else { continue }
                defer { p.finish() }
                let input = p.double("input")
                let output = p.double("output")
                if input == nil && !p.has("input") {
                    p.reader.report(p.childPath("input"), "missing: price per million prompt tokens")
                }
                if output == nil && !p.has("output") {
                    p.reader.report(p.childPath("output"), "missing: price per million completion tokens")
                }
                b.prices[model] = .init(
                    input: input ?? 0, cachedInput: p.double("cached_input") ?? input ?? 0,
                    output: output ?? 0)
            }
            prices.finish()
        }
        if b.maxPromptTokens == nil && b.maxCompletionTokens == nil && b.maxCost == nil {
            o.reader.report(o.path, "set max_prompt_tokens, max_completion_tokens or max_cost")
        }
        return b
    }

    /// The name a role's requests are priced under: its model, else its backend's, else the backend's name.
    public func pricedModel(of role: RoleConfig) -> String {
        if let m = role.model { return m }
        if case .openai(let c)? = backends[role.backend], !c.model.isEmpty { return c.model }
        return role.backend
    }

    /// With `max_cost`, every role's model needs a price.
    static func checkPrices(_ config: Config, reader: ConfigReader) {
        guard let budget = config.run.budget, budget.maxCost != nil else { return }
        for (name, role) in config.roles.sorted(by: { $0.key < $1.key }) {
            let model = config.pricedModel(of: role)
            guard budget.prices[model] == nil else { continue }
            reader.report(
                "run.budget.prices",
                "no price for model \"\(model)\" (used by roles.\(name)); max_cost needs one")
        }
    }
}
