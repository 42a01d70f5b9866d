import FoundationEssentials

/// A role ready to run: its config, its prompt builder and the endpoint that serves it.
///
/// A class, though immutable: a role is large (two copies of its config) and every in-flight
/// dialogue's task frames hold roles across awaits. As a struct it cost each in-flight Parrot
/// dialogue 10 KB of task frames (heaptrack on `ParleyBench memory 200 4`: 5.2 MB -> 3.2 MB).
public final class Role: Sendable {
    public let config: RoleConfig
    public let endpoint: ModelEndpoint
    public let prompts: PromptBuilder
    public var name: String { config.name }

    public init(config: RoleConfig, endpoint: ModelEndpoint, prompts: PromptBuilder) {
        self.config = config
        self.endpoint = endpoint
        self.prompts = prompts
    }
}

extension Role {
    /// The role with another system prompt (a dialogue's persona, an expert identity).
    func with(system: String) -> Role {
        var config = self.config
        config.systemPrompt = system
        return with(config: config)
    }

    /// The role with more stop sequences.
    func with(stops: [String]) -> Role {
        var config = self.config
        config.stop += stops.filter { !config.stop.contains($0) }
        return with(config: config)
    }

    /// The role under another config, prompted with the same template and counter.
    func with(config: RoleConfig) -> Role {
        Role(
            config: config, endpoint: endpoint,
            prompts: PromptBuilder(
                role: config, template: prompts.template, counter: prompts.counter,
                chatOverhead: prompts.chatOverhead))
    }
}

/// The runtime's view of a config: one `ModelEndpoint` per backend (shared by every role
/// it serves, so concurrency is bounded per server) and one `Role` per configured role.
public struct Engine: Sendable {
    public let config: Config
    public let endpoints: [String: ModelEndpoint]
    public internal(set) var roles: [String: Role]
    /// The run's budget (`run.budget`), shared by every endpoint; nil: unlimited.
    public let budget: Budget?
    /// The persona and style lists (`personas`, `styles`), loaded.
    public let personas: [String]
    public let styles: [String]
    /// The quality filters; nil when none is configured.
    public let filters: DialogueFilters?

    /// - Parameter backends: the models of `"host"` backends by name (a callback, the pull
    ///   queue); may also replace configured backends (tests). A host backend left out is an error.
    public init(
        config: Config, backends: [String: any Backend] = [:],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) {
        self.config = config
        var endpoints: [String: ModelEndpoint] = [:]
        var missing: [ConfigIssue] = []
        let budget = config.run.budget.map(Budget.init)
        for (name, bc) in config.backends.sorted(by: { $0.key < $1.key }) {
            if let given = backends[name] {
                endpoints[name] = ModelEndpoint(name: name, backend: given, settings: bc.common, budget: budget)
                continue
            }
            switch bc {
            case .openai(let c):
                let members = c.endpoints.isEmpty ? [FleetMember(baseURL: c.baseURL)] : c.endpoints
                let servers = members.map { member -> (FleetMember, any Backend) in
                    var one = c
                    one.baseURL = member.baseURL
                    return (member, OpenAIBackend(config: one, environment: environment))
                }
                endpoints[name] = ModelEndpoint(
                    name: name, servers: servers, settings: c.common, routing: c.routing,
                    model: c.model.isEmpty ? name : c.model, budget: budget)
            case .scripted(let c):
                let declared = config.roles.keys.compactMap { RecipeRegistry.declaration(of: $0, in: config.recipe) }
                let backend = ScriptedBackend(
                    config: c, runSeed: config.run.seed, endMarker: config.turns.endMarker,
                    userRoles: Set(declared.filter(\.playsUser).map(\.name)),
                    judgeRoles: Set(declared.filter(\.judges).map(\.name)))
                endpoints[name] = ModelEndpoint(name: name, backend: backend, settings: c.common, budget: budget)
            case .host:
                missing.append(
                    ConfigIssue(
                        path: "backends.\(name)",
                        message: "a \"host\" backend needs a model from the embedding program "
                            + "(a callback or the pull queue); none was given"))
            }
        }
        if !missing.isEmpty { throw ConfigError(issues: missing) }
        var roles: [String: Role] = [:]
        for (name, rc) in config.roles {
            guard let endpoint = endpoints[rc.backend] else { continue }  // validation reports it
            let template = config.templates[rc.template] ?? Template.builtins[rc.template] ?? .humanAssistant
            var overhead: Int?
            if case .openai(let c)? = config.backends[rc.backend] { overhead = c.chatOverheadTokens }
            let prompts = PromptBuilder(
                role: rc, template: template, counter: endpoint.tokenCounter,
                chatOverhead: overhead)
            roles[name] = Role(config: rc, endpoint: endpoint, prompts: prompts)
        }
        self.endpoints = endpoints
        self.roles = roles
        self.budget = budget
        personas = try config.personas?.load(key: "personas") ?? []
        styles = try config.styles?.load(key: "styles") ?? []
        var blocked = config.filters.blocklist?.terms ?? []
        if let file = config.filters.blocklist?.file {
            blocked += try Config.ListSource.file(file).load(key: "filters.blocklist")
        }
        filters = config.filters.isEmpty ? nil : DialogueFilters(config: config.filters, blockTerms: blocked)
    }
}
