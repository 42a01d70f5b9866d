import FoundationEssentials

/// Any OpenAI-compatible server (OpenAI, vLLM, llama.cpp's server, SGLang, Ollama):
/// `/chat/completions` for chat prompts, `/completions` for rendered ones.
public final class OpenAIBackend: Backend {
    public let config: OpenAIConfig
    public let tokenCounter: any TokenCounter
    private let apiKey: String?
    private let chat: HTTP.Destination
    private let completions: HTTP.Destination
    /// A server of a fleet fails fast on a refused connection (`HTTP.fleetClient`).
    private var client: HTTP.Client { config.endpoints.count > 1 ? HTTP.fleetClient : HTTP.client }

    /// Reads the API key from the environment variable the config names.
    public init(config: OpenAIConfig, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.config = config
        self.apiKey = config.apiKeyEnv.flatMap { environment[$0] }.flatMap { $0.isEmpty ? nil : $0 }
        chat = HTTP.Destination(config.baseURL + "/chat/completions")
        completions = HTTP.Destination(config.baseURL + "/completions")
        switch config.tokenizer {
        case .llamacpp, .vllm:
            tokenCounter = ServerTokenCounter(
                url: config.tokenizeURL ?? ServerTokenCounter.defaultURL(base: config.baseURL),
                style: config.tokenizer == .vllm ? .vllm(model: config.model) : .llamacpp,
                apiKey: apiKey, timeout: min(config.timeoutSeconds, 30))
        case .estimate:
            tokenCounter = EstimatingTokenCounter(charsPerToken: config.charsPerToken)
        }
    }

    nonisolated(nonsending) public func generate(_ r: GenerationRequest) async throws -> GenerationResult {
        var w = JSONWriter()
        w.beginObject()
        w.field("model", r.model ?? config.model)
        let to: HTTP.Destination
        switch r.prompt {
        case .chat(let messages):
            to = chat
            w.key("messages")
            w.beginArray()
            for i in messages.indices { w.message(messages[i].role, messages[i].content) }
            w.endArray()
        case .text(let prompt):
            to = completions
            w.field("prompt", prompt)
        }
        w.field("max_tokens", r.maxTokens)
        w.key("temperature")
        w.double(r.temperature)
        w.key("top_p")
        w.double(r.topP)
        if !r.stop.isEmpty {
            // OpenAI accepts at most 4 stop sequences; servers that take more get them all.
            let stops = config.baseURL.contains("api.openai.com") ? Array(r.stop.prefix(4)) : r.stop
            w.key("stop")
            w.beginArray()
            for s in stops { w.string(s) }
            w.endArray()
        }
        w.field("seed", Int(r.seed & 0x7FFF_FFFF))
        if r.params["cache_prompt"] == nil, config.cachePrompt ?? (config.tokenizer == .llamacpp) {
            w.key("cache_prompt")
            w.bool(true)
        }
        for key in r.params.keys.sorted() {
            w.key(key)
            w.value(r.params[key]!)
        }
        w.endObject()

        let url = to.url
        let (status, headers, body) = try await HTTP.postJSON(
            to, body: HTTP.body(w), apiKey: apiKey, timeout: config.timeoutSeconds, client: client)
        try HTTP.requireSuccess(status, headers: headers, body: body, url: url, apiKey: apiKey)
        guard let reply = CompletionReply(body) else {
            let start = HTTP.redact(String(decoding: body.prefix(200), as: UTF8.self), apiKey)
            throw BackendError("malformed body from \(url): \(start)", retryable: true, kind: "malformed body")
        }
        guard let choice = reply.choices.first?.objectValue else {
            throw BackendError("response from \(url) has no choices", retryable: true, kind: "no choices")
        }
        guard let text = choice["message"]?.objectValue?["content"]?.stringValue ?? choice["text"]?.stringValue else {
            throw BackendError("response from \(url) has no text", retryable: true, kind: "no text")
        }
        var result = GenerationResult(
            text: text, finishReason: choice["finish_reason"]?.stringValue,
            promptTokens: reply.usage("prompt_tokens") ?? reply.promptTokensEvaluated,
            completionTokens: reply.usage("completion_tokens"), model: reply.fields["model"]?.stringValue,
            cachedPromptTokens: reply.cachedPromptTokens)
        result.rateLimits = RateLimitHeaders { headers.first(name: $0) }
        return result
    }

    /// The server's root (the base URL without `/v1`): llama.cpp and vLLM serve `/health` there.
    var rootURL: String { config.baseURL.hasSuffix("/v1") ? String(config.baseURL.dropLast(3)) : config.baseURL }

    /// `/health` answers 200; a server without one (404) is taken back and its next request tells.
    nonisolated(nonsending) public func probe() async -> Bool {
        guard let reply = try? await HTTP.get(rootURL + "/health", apiKey: apiKey, timeout: 5, client: client) else {
            return false
        }
        let status = reply.0
        return status / 100 == 2 || status == 404 || status == 405
    }

    /// The context a request may use, where the server says it: llama.cpp's `/props`
    /// (`n_ctx` of one slot), else vLLM's `/v1/models` (`max_model_len`). nil: it does not say.
    public func serverContext() async -> (tokens: Int, source: String)? {
        if let reply = try? await HTTP.get(rootURL + "/props", apiKey: apiKey, timeout: 5),
            reply.0 / 100 == 2, let props = try? JSONDecoder().decode(Props.self, from: reply.2),
            let n = props.default_generation_settings?.n_ctx, n > 0
        {
            return (n, "llama.cpp /props n_ctx")
        }
        if let reply = try? await HTTP.get(config.baseURL + "/models", apiKey: apiKey, timeout: 5),
            reply.0 / 100 == 2, let models = try? JSONDecoder().decode(Models.self, from: reply.2)
        {
            let only = models.data.count == 1 ? models.data.first : nil
            let named = models.data.first { $0.id == config.model } ?? only
            if let n = named?.max_model_len, n > 0 { return (n, "/v1/models max_model_len") }
        }
        return nil
    }

    // swift-format-ignore: AlwaysUseLowerCamelCase
    // The servers' own field names, decoded without CodingKeys.
    private struct Props: Decodable {
        struct Settings: Decodable { var n_ctx: Int? }
        var default_generation_settings: Settings?
    }

    // swift-format-ignore: AlwaysUseLowerCamelCase
    // The servers' own field names, decoded without CodingKeys.
    private struct Models: Decodable {
        struct Model: Decodable {
            var id: String
            var max_model_len: Int?
        }
        var data: [Model]
    }

    /// A completion reply's fields, read by name from `JSONParser`'s tree: a chat reply parses
    /// in 2.1 µs against JSONDecoder's 35 (`parley-bench json`); decoding was 8.8% of the CPU
    /// `parley synth` spent per request against a server that answers at once (`benchmarks/http`).
    private struct CompletionReply {
        let fields: [String: JSONValue]
        let choices: [JSONValue]

        /// nil: not JSON, or no `choices` array.
        init?(_ body: Data) {
            guard case .object(let fields)? = try? JSONParser.parse(utf8: Array(body)),
                let choices = fields["choices"]?.arrayValue
            else { return nil }
            self.fields = fields
            self.choices = choices
        }

        func usage(_ key: String) -> Int? { Self.int(fields["usage"]?.objectValue?[key]) }

        /// llama.cpp's `timings`: `prompt_n` tokens evaluated, `cache_n` served from its cache.
        private func timing(_ key: String) -> Int? { Self.int(fields["timings"]?.objectValue?[key]) }

        var promptTokensEvaluated: Int? { timing("prompt_n").map { $0 + (timing("cache_n") ?? 0) } }

        var cachedPromptTokens: Int? {
            Self.int(fields["usage"]?.objectValue?["prompt_tokens_details"]?.objectValue?["cached_tokens"])
                ?? timing("cache_n")
        }

        private static func int(_ value: JSONValue?) -> Int? {
            guard case .number(let n)? = value else { return nil }
            return Int(exactly: n)
        }
    }
}

/// Exact token counts from the server: llama.cpp's `/tokenize` takes `{"content"}`,
/// vLLM's takes `{"model", "prompt"}`; both answer with `tokens` (vLLM also `count`).
public struct ServerTokenCounter: TokenCounter {
    public enum Style: Sendable {
        case llamacpp
        case vllm(model: String)
    }
    public var url: String
    public var style: Style
    var apiKey: String?
    var timeout: Double

    public init(url: String, style: Style, apiKey: String? = nil, timeout: Double = 30) {
        self.url = url
        self.style = style
        self.apiKey = apiKey
        self.timeout = timeout
    }

    static func defaultURL(base: String) -> String {
        (base.hasSuffix("/v1") ? String(base.dropLast(3)) : base) + "/tokenize"
    }

    nonisolated(nonsending) public func count(_ text: String) async throws -> Int {
        var w = JSONWriter()
        w.beginObject()
        switch style {
        case .llamacpp:
            w.field("content", text)
            w.key("add_special")
            w.bool(false)
        case .vllm(let model):
            w.field("model", model)
            w.field("prompt", text)
            w.key("add_special_tokens")
            w.bool(false)
        }
        w.endObject()
        var attempt = 1
        while true {
            do {
                let (status, headers, body) = try await HTTP.postJSON(
                    url, body: w.text, apiKey: apiKey, timeout: timeout)
                try HTTP.requireSuccess(status, headers: headers, body: body, url: url, apiKey: apiKey)
                guard let reply = try? JSONDecoder().decode(Reply.self, from: body),
                    let n = reply.count ?? reply.tokens?.count
                else {
                    throw BackendError("malformed tokenize response from \(url)", retryable: false)
                }
                return n
            } catch let e as BackendError where e.retryable && attempt < 4 {
                try await Task.sleep(
                    nanoseconds: UInt64(
                        RetryPolicy(maxRetries: 3, baseSeconds: 0.25, maxSeconds: 4)
                            .delay(afterAttempt: attempt, retryAfter: e.retryAfter) * 1e9))
                attempt += 1
            }
        }
    }

    private struct Reply: Decodable {
        var tokens: [JSONValue]?
        var count: Int?
    }

    /// llama.cpp's server renders its chat template at `/apply-template`: one empty user
    /// message (with the generation prompt) measures what a message costs beyond its text.
    nonisolated(nonsending) public func chatMessageOverhead() async throws -> Int? {
        guard case .llamacpp = style, url.hasSuffix("/tokenize") else { return nil }
        let applyURL = String(url.dropLast("/tokenize".count)) + "/apply-template"
        let body = #"{"messages":[{"role":"user","content":""}]}"#
        let (status, _, data) = try await HTTP.postJSON(applyURL, body: body, apiKey: apiKey, timeout: timeout)
        guard status / 100 == 2, case .object(let o)? = try? JSONValue.parse(String(decoding: data, as: UTF8.self)),
            let prompt = o["prompt"]?.stringValue
        else { return nil }
        return try await count(prompt)
    }
}
