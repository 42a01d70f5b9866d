import Foundation

/// A role ready to run: its config, its prompt builder and the endpoint that serves it.
public struct Role: Sendable {
    public let config: RoleConfig
    public let endpoint: ModelEndpoint
    public let prompts: PromptBuilder
    public var name: String { config.name }
}

/// The runtime's view of a config: one `ModelEndpoint` per backend (shared by every role
/// it serves, so concurrency is bounded per server) and one `Role` per configured role.
public struct Engine: Sendable {
    public let config: Config
    public let endpoints: [String: ModelEndpoint]
    public let roles: [String: Role]

    /// - Parameter backends: replaces configured backends by name (host-provided models, tests).
    public init(config: Config, backends: [String: any Backend] = [:],
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.config = config
        var endpoints: [String: ModelEndpoint] = [:]
        for (name, bc) in config.backends {
            let backend: any Backend = backends[name] ?? {
                switch bc {
                case .openai(let c): return OpenAIBackend(config: c, environment: environment)
                case .scripted(let c): return ScriptedBackend(config: c, runSeed: config.run.seed, endMarker: config.turns.endMarker)
                }
            }()
            endpoints[name] = ModelEndpoint(name: name, backend: backend, settings: bc.common)
        }
        var roles: [String: Role] = [:]
        for (name, rc) in config.roles {
            guard let endpoint = endpoints[rc.backend] else { continue }  // validation reports it
            let template = config.templates[rc.template] ?? Template.builtins[rc.template] ?? .humanAssistant
            var overhead = 8
            if case .openai(let c)? = config.backends[rc.backend] { overhead = c.chatOverheadTokens }
            let prompts = PromptBuilder(role: rc, template: template, counter: endpoint.backend.tokenCounter, chatOverhead: overhead)
            roles[name] = Role(config: rc, endpoint: endpoint, prompts: prompts)
        }
        self.endpoints = endpoints
        self.roles = roles
    }
}
