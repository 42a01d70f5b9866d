import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A backend as the runtime uses it: the fleet of servers that serve it (one `Replica`
/// each), the router that keeps each dialogue on one of them, the backend's rate limits,
/// the run's budget and the retry policy. Every role served by the backend shares it.
public final class ModelEndpoint: Sendable {
    public let name: String
    public let replicas: [Replica]
    public let retry: RetryPolicy
    /// How prompts are counted: the first healthy server's counter.
    public let tokenCounter: any TokenCounter
    /// The name the budget prices this backend's requests under when a role does not name a model.
    public let model: String
    let rates: RateLimiter?
    let budget: Budget?
    private let router: Locked<FleetRouter>
    private let observers = Locked<(next: Int, all: [Int: @Sendable (_ url: String, _ limit: Int) -> Void])>((0, [:]))

    /// One server.
    public convenience init(name: String, backend: any Backend, settings: BackendCommon, budget: Budget? = nil) {
        self.init(name: name, servers: [(FleetMember(baseURL: name), backend)], settings: settings, budget: budget)
    }

    /// - Parameters:
    ///   - servers: the fleet: each server's address and weight, and the backend that talks to it.
    ///   - model: what the budget prices requests under (default: the backend's name).
    public init(
        name: String, servers: [(member: FleetMember, backend: any Backend)], settings: BackendCommon,
        routing: Routing = .affinity, model: String? = nil, budget: Budget? = nil
    ) {
        self.name = name
        replicas = servers.map {
            Replica(
                url: $0.member.baseURL, weight: $0.member.weight, backend: $0.backend,
                settings: settings)
        }
        retry = RetryPolicy(
            maxRetries: settings.maxRetries, baseSeconds: settings.backoffBaseSeconds,
            maxSeconds: settings.backoffMaxSeconds)
        self.model = model ?? name
        rates =
            settings.rateLimits.isEmpty && !servers.contains { $0.backend is OpenAIBackend }
            ? nil : RateLimiter(settings.rateLimits)
        self.budget = budget
        router = Locked(FleetRouter(servers.map { ($0.member.baseURL, $0.member.weight) }, routing: routing))
        let replicas = self.replicas
        tokenCounter = replicas.count == 1 ? replicas[0].backend.tokenCounter : FleetTokenCounter(replicas: replicas)
    }

    /// Generates with retries. A slot is held only while an attempt runs, not during backoff.
    /// A server taken out of the fleet hands the request to another at once, without
    /// spending a retry. Throws `GenerationFailure` once retries are spent or the error is
    /// not retryable, and `BudgetExhausted` when the budget cannot cover the request. The request is
    /// `consuming`: handed on to the attempts, not copied (a copy retained and released its strings and arrays).
    @inline(__always)
    nonisolated(nonsending) public func generate(_ request: consuming GenerationRequest) async throws -> (
        GenerationResult, attempts: Int
    ) {
        let promptTokens = request.promptTokens ?? Self.estimate(request.prompt)
        let held = try budget?.reserve(
            model: request.model ?? model, promptTokens: promptTokens,
            maxTokens: request.maxTokens)
        do {
            let (result, attempts) = try await attempt(request, promptTokens: promptTokens)
            if let held {
                budget?.settle(
                    held, prompt: result.promptTokens, cached: result.cachedPromptTokens,
                    completion: result.completionTokens, failed: false)
            }
            return (result, attempts)
        } catch {
            if let held { budget?.settle(held, prompt: nil, cached: nil, completion: nil, failed: true) }
            throw error
        }
    }

    @inline(__always)
    nonisolated(nonsending) private func attempt(_ request: consuming GenerationRequest, promptTokens: Int)
        async throws -> (GenerationResult, Int)
    {
        var met: [String] = []
        var handedOver = 0
        // Only a fleet routes (one server takes every request).
        let dialogue = replicas.count > 1 ? StableHash.of(request.dialogueID) : 0
        while true {
            let reservation = try await rates?.acquire(prompt: promptTokens, maxTokens: request.maxTokens)
            let index = replicas.count > 1 ? router.withLock { $0.route(dialogue) } : 0
            let replica = replicas[index]
            let epoch: Int
            do { epoch = try await replica.admit() } catch {
                if let reservation { rates?.settle(reservation, used: nil) }
                throw error
            }
            let started = MonotonicTime.seconds()
            let r: GenerationResult
            do {
                r = try await replica.backend.generate(request)
            } catch {
                replica.limiter.release()
                if let reservation { rates?.settle(reservation, used: nil) }
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                let e = error as? BackendError ?? BackendError("\(error)", retryable: true)
                met.append(e.kind)
                let opened = replica.failed(e, epoch: epoch) { notify(replica.url, $0) }
                if opened { takeOut(index) }
                if e.retryable, replicas.count > 1, !replica.healthy, handedOver < replicas.count {
                    handedOver += 1
                    continue
                }
                guard e.retryable, request.attempt <= retry.maxRetries else {
                    throw GenerationFailure(reason: e.message, attempts: request.attempt, met: met)
                }
                let delay = retry.delay(afterAttempt: request.attempt, retryAfter: e.retryAfter)
                try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                request.attempt += 1
                continue
            }
            replica.limiter.release()
            replica.succeeded(r, started: started) { notify(replica.url, $0) }
            if let reservation {
                let used = (r.promptTokens ?? promptTokens, r.completionTokens ?? request.maxTokens)
                rates?.settle(reservation, used: used)
            }
            if let limits = r.rateLimits { rates?.learn(limits) }
            return (r, request.attempt)
        }
    }

    /// A prompt nobody counted, estimated on the high side.
    static func estimate(_ prompt: PromptInput) -> Int {
        let counter = EstimatingTokenCounter(charsPerToken: 2.5)
        switch prompt {
        case .text(let t): return counter.estimate(t)
        case .chat(let messages): return messages.reduce(0) { $0 + counter.estimate($1.content) + 8 }
        }
    }

    /// Calls `body` with a server's URL and its new limit each time an adaptive limit changes,
    /// until `stopObserving` with the returned token.
    public func observeLimits(_ body: @escaping @Sendable (_ url: String, _ limit: Int) -> Void) -> Int {
        observers.withLock { o in
            o.next += 1
            o.all[o.next] = body
            return o.next
        }
    }

    public func stopObserving(_ token: Int) {
        _ = observers.withLock { $0.all.removeValue(forKey: token) }
    }

    private func notify(_ url: String, _ limit: Int) {
        for body in observers.withLock({ Array($0.all.values) }) { body(url, limit) }
    }

    /// A dialogue ended: its server's load goes down.
    public func release(dialogue id: String) {
        guard replicas.count > 1 else { return }
        let key = StableHash.of(id)
        router.withLock { $0.release(key) }
    }

    /// Dialogues placed on each server, and how many moved because their server was taken out.
    public var placement: (placed: [Int], rehomed: Int) {
        router.withLock { r in (r.members.map(\.placed), r.rehomed) }
    }

    /// Routes around a server whose circuit opened, and probes it until it is healthy again.
    private func takeOut(_ index: Int) {
        router.withLock { $0.setHealthy(index, false) }
        Task.detached { [weak self] in
            while let at = self?.replicas[index].probeAt {
                let wait = at - MonotonicTime.seconds()
                if wait > 0 { try? await Task.sleep(nanoseconds: UInt64(wait * 1e9)) }
                guard let self else { return }
                let healthy = await self.replicas[index].backend.probe()
                self.replicas[index].probed(healthy: healthy)
                if healthy { self.router.withLock { $0.setHealthy(index, true) } }
            }
        }
    }
}

/// Counts with the first server of a fleet that answers, healthy servers first: a server
/// taken out does not stop the dialogues homed on others from being windowed.
struct FleetTokenCounter: TokenCounter {
    let replicas: [Replica]

    nonisolated(nonsending) func count(_ text: String) async throws -> Int {
        try await first { try await $0.count(text) }
    }

    nonisolated(nonsending) func chatMessageOverhead() async throws -> Int? {
        try await first { try await $0.chatMessageOverhead() }
    }

    nonisolated(nonsending) private func first<T>(_ body: nonisolated(nonsending) (any TokenCounter) async throws -> T)
        async throws -> T
    {
        let ordered = replicas.filter(\.healthy) + replicas.filter { !$0.healthy }
        var last: (any Error)?
        for r in ordered {
            do { return try await body(r.backend.tokenCounter) } catch let e as BackendError where e.retryable {
                last = e
            }
        }
        throw last ?? BackendError("no server to count tokens with", retryable: true)
    }
}

/// A request that failed for good: the dialogue is marked failed with this reason.
public struct GenerationFailure: Error, Sendable, CustomStringConvertible {
    /// The last attempt's error.
    public var reason: String
    public var attempts: Int
    /// What each attempt met (`BackendError.kind`), in order.
    public var met: [String]

    public init(reason: String, attempts: Int, met: [String] = []) {
        self.reason = reason
        self.attempts = attempts
        self.met = met
    }

    /// `HTTP 503 from …: overloaded (after 9 attempts: 6 × timeout, 2 × HTTP 503, 1 × malformed body)`.
    public var description: String {
        guard attempts > 1, !met.isEmpty else {
            return "\(reason) (after \(attempts) attempt\(attempts == 1 ? "" : "s"))"
        }
        // Kinds in order of first appearance, then the most frequent first.
        var counts: [(kind: String, n: Int)] = []
        for kind in met {
            if let i = counts.firstIndex(where: { $0.kind == kind }) {
                counts[i].n += 1
            } else {
                counts.append((kind, 1))
            }
        }
        let ranked = counts.enumerated().sorted { ($0.element.n, $1.offset) > ($1.element.n, $0.offset) }
        let tally = ranked.map { "\($0.element.n) × \($0.element.kind)" }.joined(separator: ", ")
        return "\(reason) (after \(attempts) attempts: \(tally))"
    }
}

/// Exponential backoff with full jitter, capped; a server's `Retry-After` wins when longer.
public struct RetryPolicy: Sendable {
    public var maxRetries: Int
    public var baseSeconds: Double
    public var maxSeconds: Double

    public func delay(afterAttempt attempt: Int, retryAfter: Double?) -> Double {
        let ceiling = min(maxSeconds, baseSeconds * pow(2, Double(attempt - 1)))
        let jittered = Double.random(in: 0...max(ceiling, 1e-9))
        guard let retryAfter else { return jittered }
        return max(jittered, min(retryAfter, max(maxSeconds, 300)))
    }

    /// Parses a `Retry-After` header: seconds, or an HTTP date.
    public static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Double? {
        guard let value = value?.trimmingWhitespace(), !value.isEmpty else { return nil }
        if let s = Double(value) { return max(0, s) }
        return HTTPDate.parse(value, now: now).map { max(0, $0.timeIntervalSince(now)) }
    }
}
