import FoundationEssentials

/// A run's whole configuration: one JSON file, the same for the CLI and (later) the C ABI.
/// `Config.parse` validates it and reports every problem with its path.
public struct Config: Sendable {
    public var recipe: String = "parrot"
    /// The seeds file (JSONL), relative to the working directory.
    public var seeds: String?
    public var output = Output()
    public var run = RunSettings()
    public var backends: [String: BackendConfig] = [:]
    public var roles: [String: RoleConfig] = [:]
    public var templates: [String: Template] = [:]
    public var turns = TurnPlan()
    /// Per-dialogue user personas and writing styles, sampled from the run seed.
    public var personas: ListSource?
    public var styles: ListSource?
    public var filters = FilterConfig()
    /// The recipes' own sections (`eval`, `capo`, …); each recipe's folder gives its section a
    /// typed property (`config.eval`).
    var sections = RecipeSections()
    /// A digest of everything that shapes the dialogues (not `run.concurrency`, `output.dir`, …):
    /// a run directory refuses to resume under a different fingerprint.
    public var fingerprint: String = ""
    /// The config as parsed (overrides applied): `run.json` keeps it, so that `parley merge`
    /// can finish a sharded run's recipe without the original file.
    public internal(set) var json: JSONValue = .object([:])

    public init() {}

    public struct Output: Sendable {
        public var dir: String = "runs/parley"
        /// `sharegpt` (always written, `dialogues.jsonl`) and optionally `messages` (`messages.jsonl`).
        public var formats: [OutputFormat] = [.sharegpt]
    }

    /// The shapes a run writes its dialogues in.
    public enum OutputFormat: String, Sendable, CaseIterable {
        /// `dialogues.jsonl`: `{"conversations": [{"from", "value"}]}`, always written.
        case sharegpt
        /// `messages.jsonl`: `{"messages": [{"role", "content"}]}` (OpenAI, TRL).
        case messages
    }

    public struct RunSettings: Sendable {
        /// The run seed: scripted text, sampled turn caps and request seeds derive from it.
        public var seed: UInt64 = 0
        /// Dialogues in flight at once.
        public var concurrency: Int = 64
        /// Use only the first N seeds.
        public var limit: Int?
        /// Seconds between progress lines when stderr is not a terminal.
        public var progressSeconds: Double = 10
        /// What a written line survives.
        public var durability: Durability = .process
        /// Tokens and cost the run may spend; nil: no limit.
        public var budget: BudgetConfig?
        /// The part of the seeds this run takes (`"K/N"`); nil: all of them.
        public var shard: Shard?
        /// Where the run serves live metrics; nil: it does not.
        public var metrics: MetricsSettings?
    }

    /// What the run's writes survive.
    public enum Durability: String, Sendable, CaseIterable {
        /// Each line reaches the kernel before the dialogue goes on: it survives the process
        /// being killed at any instant, not the machine crashing.
        case process
        /// The journal and output files are fsynced in group commits, and a dialogue counts
        /// as ended only once its end record is on disk: a run survives an OS crash or power loss.
        case fsync
    }

    public struct TurnPlan: Sendable {
        /// Exchanges per dialogue (a seeded exchange counts): fixed, or sampled per dialogue from a range.
        public var max: ClosedRange<Int> = 8...8
        /// Dialogues ending with fewer complete exchanges go to `filtered.jsonl`.
        public var min: Int = 1
        /// A marker the asker may write to end the dialogue (`asker_ended`), e.g. "<e>".
        public var endMarker: String?
        /// Words that close a conversation ("goodbye"): when one appears in the last two
        /// utterances, the dialogue ends after the assistant's reply (`closed`). Off when empty.
        public var closingKeywords: [String] = []
        /// End with `degenerate` when a message repeats an earlier one of its speaker.
        public var stopOnRepeat = true
    }

    /// A list given in the config, or a file with one item per line (read when the run starts).
    public enum ListSource: Sendable, Equatable {
        case items([String])
        case file(String)

        /// The items; blank lines of a file are skipped. `key` names the list in errors.
        public func load(key: String) throws(ConfigError) -> [String] {
            switch self {
            case .items(let items): return items
            case .file(let path):
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw ConfigError(issues: [ConfigIssue(path: key + ".file", message: "cannot read \"\(path)\"")])
                }
                return text.split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }.filter {
                    !$0.isEmpty
                }
            }
        }
    }

    /// The recipes a config may name (`RecipeRegistry`).
    public static var recipes: [String] { RecipeRegistry.all.map { $0.name } }
}

// indirect: each payload is boxed, so copies never read the unused bytes of a smaller
// payload (valgrind reports such reads in multi-payload enums as uninitialised).
public indirect enum BackendConfig: Sendable {
    case openai(OpenAIConfig)
    case scripted(ScriptedConfig)
    /// A model the embedding program provides (a callback or the pull queue), by name.
    case host(HostConfig)

    public var common: BackendCommon {
        switch self {
        case .openai(let c): c.common
        case .scripted(let c): c.common
        case .host(let c): c.common
        }
    }
}

public struct HostConfig: Sendable {
    public var common = BackendCommon(maxConcurrency: 64, maxRetries: 2)
    /// Token counts are estimated unless the host gives its own counter.
    public var charsPerToken: Double = 2.5
    /// Whether the host's callback may block (I/O, locks, a model call). `false` promises it
    /// answers at once: Parley then calls it on its own worker threads instead of handing each
    /// request to `BlockingPool` and back, two thread wake-ups that cost more than a fast callback.
    public var blocking = true
}

/// Settings every backend has.
public struct BackendCommon: Sendable {
    /// Requests in flight at once against this backend.
    public var maxConcurrency: Int = 16
    /// Retries after the first attempt, with exponential backoff and jitter.
    public var maxRetries: Int = 4
    public var backoffBaseSeconds: Double = 0.5
    public var backoffMaxSeconds: Double = 30
    /// `fixed` keeps `maxConcurrency`; `adaptive` makes it the ceiling of a limit that follows the server.
    public var concurrency: ConcurrencyMode = .fixed
    public var rateLimits = RateLimitConfig()

    public init(
        maxConcurrency: Int = 16, maxRetries: Int = 4, backoffBaseSeconds: Double = 0.5,
        backoffMaxSeconds: Double = 30, concurrency: ConcurrencyMode = .fixed,
        rateLimits: RateLimitConfig = RateLimitConfig()
    ) {
        self.maxConcurrency = maxConcurrency
        self.maxRetries = maxRetries
        self.backoffBaseSeconds = backoffBaseSeconds
        self.backoffMaxSeconds = backoffMaxSeconds
        self.concurrency = concurrency
        self.rateLimits = rateLimits
    }
}

public struct OpenAIConfig: Sendable {
    public var common = BackendCommon(concurrency: .adaptive)
    /// e.g. `http://127.0.0.1:8080/v1` or `https://api.openai.com/v1`: the first endpoint's.
    public var baseURL: String = ""
    /// The servers of the fleet (`endpoints`, or the one `base_url`).
    public var endpoints: [FleetMember] = []
    public var routing: Routing = .affinity
    /// Sends llama.cpp's `cache_prompt`; nil: when the tokenizer is `llamacpp`.
    public var cachePrompt: Bool?
    public var model: String = ""
    /// The name of the environment variable that holds the API key (never the key itself).
    public var apiKeyEnv: String?
    public var timeoutSeconds: Double = 120
    /// Token counts for context windowing: estimated, or exact from the server.
    public var tokenizer: Tokenizer = .estimate
    /// Overrides the tokenize URL (default: the base URL without `/v1`, plus `/tokenize`).
    public var tokenizeURL: String?
    public var charsPerToken: Double = 2.5
    /// Tokens a chat endpoint's template adds per message. nil: ask the server where it can
    /// say (llama.cpp's `/apply-template` with the `llamacpp` tokenizer), else 8.
    public var chatOverheadTokens: Int?
    public init() {}

    /// Where a backend's token counts come from.
    public enum Tokenizer: String, Sendable, CaseIterable {
        /// From the text's length (`chars_per_token`).
        case estimate
        /// llama.cpp's `/tokenize`.
        case llamacpp
        /// vLLM's `/tokenize`.
        case vllm
    }
}

public struct ScriptedConfig: Sendable {
    public var common = BackendCommon(
        maxConcurrency: 1024, maxRetries: 2, backoffBaseSeconds: 0.001, backoffMaxSeconds: 0.01)
    /// Words per generated message.
    public var words: ClosedRange<Int> = 8...24
    public var latencyMs: Double = 0
    public var jitterMs: Double = 0
    /// Fraction of attempts that fail (deterministic per dialogue, turn and attempt).
    public var failRate: Double = 0
    /// Every Nth call fails (0: never).
    public var failEvery: Int = 0
    /// The asker writes `turns.end_marker` at this exchange (0: never) — to exercise endings.
    public var endAtTurn: Int = 0
}

/// A participant: which backend serves it and how it is prompted.
public struct RoleConfig: Sendable {
    public enum Endpoint: String, Sendable { case chat, completion }
    /// How the user simulator sees the dialogue (asker roles only).
    public enum AskerMode: String, Sendable, CaseIterable {
        /// A trained asker (Parrot-Ask, Socratic) continues the user's turn of the transcript.
        case trained
        /// A chat model reads the rendered history and an instruction to write the user's next message.
        case prompted
        /// A chat model sees the dialogue with user and assistant swapped and answers as "assistant".
        case swapped
    }

    public var name: String
    public var backend: String = ""
    /// Overrides the backend's model name.
    public var model: String?
    public var endpoint: Endpoint = .chat
    public var template: String = Template.humanAssistant.name
    public var mode: AskerMode = .trained
    public var systemPrompt: String?
    /// Prompted mode: what follows (or, per `transcript`, precedes) the rendered history.
    public var instruction: String = RoleConfig.defaultInstruction
    /// Prompted mode: how the history is written (labels, separator, the instruction's place).
    public var transcript = Transcript()
    /// Prompted and swapped modes, empty dialogue: how to open. `{topic}` is the seed's topic
    /// (or "anything you are curious about").
    public var openingInstruction: String = RoleConfig.defaultOpening
    /// Trained mode, free seeds with a topic: appended to the system prompt.
    public var topicHint: String = "The human wants to talk about {topic}."
    /// How the dialogue's persona and style reach the asker: added to its system prompt
    /// (trained, swapped) or its instruction (prompted).
    public var personaPrompt: String = "You are {persona}."
    public var stylePrompt: String = "Write in this style: {style}."
    public var maxTokens: Int = 512
    public var maxContext: Int = 4096
    /// Whether `max_context` was configured; if not, a server that says its context sets it.
    public var maxContextGiven = false
    public var temperature: Double = 0.7
    public var topP: Double = 1
    public var stop: [String] = []
    /// Keep the first exchange (the topic) when old exchanges must be dropped.
    public var keepFirstExchange: Bool = false
    /// What happens once the whole history no longer fits the context.
    public var onFull: OnFull = .window
    /// More fields of every request body (`top_k`, `min_p`, `repeat_penalty`, `response_format`, …).
    public var params: [String: JSONValue] = [:]
    /// Tokens kept free besides `max_tokens`, and added per message for tokenizer boundary effects.
    public var marginTokens: Int = 4
    /// The assistant answers as an expert the `expert_writer` role describes from the first question.
    public var expert = false

    public init(name: String) { self.name = name }

    /// `on_full`: what a role does when the whole history and its generation no longer fit `max_context`.
    public enum OnFull: String, Sendable, CaseIterable {
        /// Drop the oldest exchanges (Parley's default); the dialogue ends only when even the
        /// newest exchange cannot fit.
        case window
        /// End the dialogue (`context_exhausted`), as PlatoLM's simulator does: it never windows.
        case end
    }

    /// Request fields Parley sets itself, which `params` may not name.
    public static let ownRequestFields = [
        "model", "messages", "prompt", "max_tokens", "temperature", "top_p", "stop", "seed", "stream", "n",
    ]

    public static let defaultInstruction = """
        Above is a conversation between a user and an AI assistant. Now imagine you are the user. \
        Write the user's next message: a short, casual follow-up that builds on the conversation, \
        the way a real person types. Write only the message itself.
        """
    public static let defaultOpening = """
        Imagine you are a person starting a conversation with an AI assistant about {topic}. \
        Write your opening message, short and natural. Write only the message itself.
        """
}
