import FoundationEssentials

/// Generates one message of a dialogue for one role: view → window → request →
/// retries → cleaned text with its metadata. Recipes are loops over this step.
struct TurnStep {
    enum Outcome {
        case message(Message)
        case contextExhausted(String)
    }

    let runSeed: UInt64

    /// What a dialogue's steps remember between its turns: the token counts of each message's content per token
    /// counter (endpoint), computed once per message (windowing a long dialogue costs O(messages)), and its
    /// persona and style.
    struct Memo {
        /// Per endpoint name: a dialogue's roles use one or two endpoints, and a dictionary hashed the name
        /// twice a request.
        private var byEndpoint: [(endpoint: String, counts: [Int])] = []
        /// Set in the dialogue's meta when it starts, and read from there once: two lookups a request hashed
        /// their keys (~670 instructions, benchmarks/callgrind).
        private var voice: (persona: String?, style: String?)?

        mutating func voice(of d: Dialogue) -> (persona: String?, style: String?) {
            if let voice { return voice }
            let read = (persona: d.meta["persona"]?.stringValue, style: d.meta["style"]?.stringValue)
            voice = read
            return read
        }

        /// The counts of `endpoint`, taken out while they grow (so that appending does not copy the array
        /// the cache still holds); give them back with `put`.
        mutating func take(_ endpoint: String) -> [Int] {
            guard let i = byEndpoint.firstIndex(where: { $0.endpoint == endpoint }) else { return [] }
            return byEndpoint.remove(at: i).counts
        }

        mutating func put(_ counts: [Int], for endpoint: String) { byEndpoint.append((endpoint, counts)) }

        /// Whether each message of the dialogue opens an exchange (is the user's), grown as messages are added: made
        /// anew, it was an array allocated every request.
        private var starts: [Bool] = []

        mutating func exchangeStarts(of d: Dialogue) -> [Bool] {
            while starts.count < d.messages.count { starts.append(d.messages[starts.count].speaker == .user) }
            return starts
        }
    }

    /// - Parameter temperature: overrides the role's (an evaluation's per-category temperature).
    nonisolated(nonsending) func run(
        _ role: Role, writing speaker: Speaker, in d: Dialogue, cache: inout Memo,
        temperature: Double? = nil
    ) async throws -> Outcome {
        let voice = cache.voice(of: d)
        let view = View.of(
            d.messages, for: role.config, writing: speaker, topic: d.seed.topic, persona: voice.persona,
            style: voice.style)
        let counter = role.endpoint.tokenCounter
        var counts = cache.take(role.endpoint.name)
        while counts.count < d.messages.count {
            if let n = counter.countLocally(d.messages[counts.count].content) {
                counts.append(n)
                continue
            }
            do {
                counts.append(try await counter.count(d.messages[counts.count].content))
            } catch let e as BackendError {
                throw GenerationFailure(reason: "token count: \(e.message)", attempts: 1)
            }
        }
        cache.put(counts, for: role.endpoint.name)
        let starts = cache.exchangeStarts(of: d)

        let outcome: PromptBuilder.Outcome
        do {
            outcome = try await role.prompts.build(view, contentCounts: counts, exchangeStarts: starts)
        } catch let e as BackendError {
            throw GenerationFailure(reason: "token count: \(e.message)", attempts: 1)
        }
        guard case .ready(let prompt, let stops, _, let promptTokens) = outcome else {
            if case .exhausted(let needed, let budget) = outcome {
                return .contextExhausted("\(role.name) needs \(needed) prompt tokens, \(budget) available")
            }
            return .contextExhausted(role.name)
        }

        let index = d.messages.count
        var seed = StableHash()
        seed.combine(runSeed)
        seed.combine(d.id)
        seed.combine(index)
        seed.combine(role.name)
        let request = GenerationRequest(
            dialogueID: d.id, messageIndex: index, role: role.name, prompt: prompt, model: role.config.model,
            maxTokens: role.config.maxTokens, temperature: temperature ?? role.config.temperature,
            topP: role.config.topP,
            stop: stops, seed: seed.value, promptTokens: promptTokens, params: role.config.params)
        let started = MonotonicTime.seconds()
        let (result, attempts) = try await role.endpoint.generate(request)
        let elapsed = MonotonicTime.seconds() - started
        let text = TurnCleaner.clean(result.text, stops: stops, speaker: speaker)
        let meta = TurnMeta(
            role: role.name, model: result.model ?? role.config.model, promptTokens: result.promptTokens,
            completionTokens: result.completionTokens,
            latencyMs: Int(elapsed * 1000),
            finishReason: result.finishReason, attempts: attempts)
        return .message(Message(speaker, text, meta: meta))
    }

    /// A one-off request outside the dialogue's own turns (a manager's choice, an expert
    /// identity, a rejected answer): `role` answers `messages`. `id` names the request
    /// (its seed derives from it); a prompt that cannot fit fails like a failed request.
    nonisolated(nonsending) func answer(_ role: Role, to messages: [Message], id: String, line: Int) async throws
        -> Message
    {
        var scratch = Dialogue(seed: Seed(id: id, line: line), messages: messages)
        scratch.id = id
        var cache = Memo()
        switch try await run(role, writing: .assistant, in: scratch, cache: &cache) {
        case .message(let m): return m
        case .contextExhausted(let detail): throw GenerationFailure(reason: "\(role.name): \(detail)", attempts: 0)
        }
    }
}
