import Parley

/// An engine handle: the config, the host's models for its "host" backends, and the
/// runtime `Engine`, made when the first job starts (the backends are fixed from then on).
final class EngineBox: Sendable {
    let config: Config
    private struct State {
        var hostBackends: [String: any Backend] = [:]
        var engine: Engine?
    }
    private let state = Locked(State())

    init(config: Config) { self.config = config }

    /// Serves a "host" backend with the model `make` builds from its config; only before
    /// the first job, and only once.
    func serve(_ name: String, with make: (HostConfig) -> any Backend) throws(Failure) {
        guard case .host(let host)? = config.backends[name] else {
            let hosts = config.backends.filter { if case .host = $0.value { true } else { false } }.keys.sorted()
            throw Failure(
                .config,
                "backends.\(name): no \"host\" backend of that name; host backends: "
                    + "\(hosts.isEmpty ? "none" : hosts.joined(separator: ", "))"
            )
        }
        let backend = make(host)
        let refused: String? = state.withLock { s in
            if s.engine != nil { return "the engine has started a job; serve host backends before that" }
            if s.hostBackends[name] != nil { return "backends.\(name) is already served" }
            s.hostBackends[name] = backend
            return nil
        }
        if let refused { throw Failure(.state, refused) }
    }

    func pull(_ name: String) throws(Failure) -> PullBackend {
        guard let pull = state.withLock({ $0.hostBackends[name] as? PullBackend }) else {
            throw Failure(.state, "backends.\(name) is not served by the pull queue (see parley_engine_use_pull)")
        }
        return pull
    }

    /// The runtime engine, made once.
    func engine() throws(Failure) -> Engine {
        let made: Result<Engine, ConfigError> = state.withLock { s in
            if let e = s.engine { return .success(e) }
            do throws(ConfigError) {
                let e = try Engine(config: config, backends: s.hostBackends)
                s.engine = e
                return .success(e)
            } catch { return .failure(error) }
        }
        switch made {
        case .success(let e): return e
        case .failure(let error): throw Failure(.config, error.description)
        }
    }
}
