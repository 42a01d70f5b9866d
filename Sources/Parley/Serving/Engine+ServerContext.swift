/// The servers' own context limits. A role asking more context than a server gives a
/// request would see its prompts cut or refused mid-run, so the run refuses at the start.
extension Engine {
    /// The engine with every role fitted to the context its servers say they give a request
    /// (llama.cpp's slot `n_ctx`, vLLM's `max_model_len`; the smallest over a fleet): a role
    /// without `max_context` takes it, a role configured above it is an error naming both.
    /// Servers that do not say (hosted APIs, a server that is down) are not checked.
    public func fittedToServers() async throws(ConfigError) -> Engine {
        var contexts: [String: (tokens: Int, url: String, source: String)] = [:]
        let used = Set(roles.values.map(\.endpoint.name))
        let servers = used.sorted().flatMap { name in
            (endpoints[name]?.replicas ?? []).compactMap { r in
                (r.backend as? OpenAIBackend).map { (name, r.url, $0) }
            }
        }
        // Every server at once: a fleet of many should not be asked one by one.
        await withTaskGroup(of: (String, String, (tokens: Int, source: String)?).self) { group in
            for (name, url, server) in servers {
                group.addTask { (name, url, await server.serverContext()) }
            }
            for await (name, url, context) in group {
                guard let c = context, c.tokens < contexts[name]?.tokens ?? .max else { continue }
                contexts[name] = (c.tokens, url, c.source)
            }
        }
        guard !contexts.isEmpty else { return self }
        var fitted = self
        var issues: [ConfigIssue] = []
        for (name, role) in roles.sorted(by: { $0.key < $1.key }) {
            guard let server = contexts[role.endpoint.name] else { continue }
            var rc = role.config
            let path = "roles.\(name).max_context"
            if rc.maxContextGiven {
                guard rc.maxContext > server.tokens else { continue }
                issues.append(
                    ConfigIssue(
                        path: path,
                        message: "\(rc.maxContext) is more than the \(server.tokens) "
                            + "tokens of context \(server.url) gives a request (\(server.source))"))
                continue
            }
            rc.maxContext = server.tokens
            if rc.maxTokens + rc.marginTokens >= rc.maxContext {
                issues.append(
                    ConfigIssue(
                        path: "roles.\(name).max_tokens",
                        message: "\(rc.maxTokens) leaves no room "
                            + "for a prompt in the \(server.tokens) tokens of context \(server.url) gives a request"))
                continue
            }
            fitted.roles[name] = role.with(config: rc)
        }
        if !issues.isEmpty { throw ConfigError(issues: issues) }
        return fitted
    }
}
