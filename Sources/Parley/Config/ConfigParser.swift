import Foundation

/// Every problem found in a config, each with its path.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]
    /// The text is not JSON, or not a JSON object: nothing inside it was checked.
    public var malformed = false
    public var description: String { issues.map(\.description).joined(separator: "\n") }

    public init(issues: [ConfigIssue], malformed: Bool = false) {
        self.issues = issues
        self.malformed = malformed
    }
}

extension Config {
    /// Parses and validates a config file's text. Throws `ConfigError` listing every problem.
    public static func parse(_ text: String) throws(ConfigError) -> Config {
        let root: JSONValue
        do { root = try JSONValue.parse(text) } catch {
            throw ConfigError(
                issues: [ConfigIssue(path: "", message: "not valid JSON: \(Config.describe(error))")], malformed: true)
        }
        return try parse(root)
    }

    public static func parse(_ root: JSONValue) throws(ConfigError) -> Config {
        let reader = ConfigReader()
        var config = Config()
        guard let top = reader.object(root, at: "") else {
            throw ConfigError(
                issues: [
                    ConfigIssue(path: "", message: "the config must be a JSON object, got \(root.shortDescription)")
                ], malformed: true)
        }
        if let r = top.oneOf("recipe", Config.recipes) { config.recipe = r }
        config.seeds = top.string("seeds", nonEmpty: true)

        if let o = top.object("output") {
            if let d = o.string("dir", nonEmpty: true) { config.output.dir = d }
            if let f = o.strings("formats") {
                for (i, name) in f.enumerated() where !Config.outputFormats.contains(name) {
                    reader.report(
                        "output.formats[\(i)]",
                        "expected one of \(Config.outputFormats.joined(separator: ", ")), got \"\(name)\"")
                }
                config.output.formats = ["sharegpt"] + f.filter { $0 != "sharegpt" }
            }
            o.finish()
        }
        if let o = top.object("run") {
            if let s = o.int("seed", min: 0) { config.run.seed = UInt64(s) }
            if let c = o.int("concurrency", max: 1_000_000) { config.run.concurrency = c }
            config.run.limit = o.int("limit")
            if let p = o.double("progress_seconds", min: 0.1) { config.run.progressSeconds = p }
            if let d = o.oneOf("durability", Config.Durability.allCases.map(\.rawValue)) {
                config.run.durability = Config.Durability(rawValue: d) ?? .process
            }
            if let b = o.object("budget") { config.run.budget = parseBudget(b) }
            if let text = o.string("shard") {
                config.run.shard = Shard(text)
                let wanted = "expected \"K/N\", shard K of N with 1 ≤ K ≤ N (e.g. \"2/8\")"
                if config.run.shard == nil { reader.report(o.childPath("shard"), "\(wanted), got \"\(text)\"") }
            }
            o.finish()
        }
        if let o = top.object("turns") {
            if let m = o.intRange("max") { config.turns.max = m }
            if let m = o.int("min", min: 0) { config.turns.min = m }
            config.turns.endMarker = o.string("end_marker", nonEmpty: true)
            if let k = o.strings("closing_keywords") { config.turns.closingKeywords = k.filter { !$0.isEmpty } }
            if let b = o.bool("stop_on_repeat") { config.turns.stopOnRepeat = b }
            o.finish()
            if config.turns.min > config.turns.max.upperBound {
                reader.report("turns.min", "is larger than turns.max (\(config.turns.max.upperBound))")
            }
        }
        config.personas = top.list("personas")
        config.styles = top.list("styles")
        if let o = top.object("filters") { config.filters = parseFilters(o) }
        if let o = top.object("eval") { config.eval = parseEval(o) }
        if let o = top.object("capo") { config.capo = parseCaPO(o) }
        if let o = top.object("expert") { config.expert = parseExpert(o) }
        if let o = top.object("selftalk") { config.selftalk = parseSelfTalk(o) }
        if let o = top.object("templates") {
            for name in o.fields.keys.sorted() {
                if let t = o.object(name) { config.templates[name] = parseTemplate(t, name: name) }
            }
        }
        if let o = top.object("backends") {
            for name in o.fields.keys.sorted() {
                if let b = o.object(name), let backend = parseBackend(b) { config.backends[name] = backend }
            }
        }
        if let o = top.object("roles") {
            for name in o.fields.keys.sorted() {
                if let r = o.object(name) { config.roles[name] = parseRole(r, name: name, config: config) }
            }
        }
        top.finish()
        checkRecipe(&config, reader: reader, hasRoles: top.has("roles"))
        checkPrices(config, reader: reader)
        guard reader.issues.isEmpty else { throw ConfigError(issues: reader.issues) }
        config.fingerprint = fingerprint(of: root)
        config.json = root
        return config
    }

    /// The roles each recipe needs.
    static let recipeRoles = [
        "parrot": ["asker", "assistant"], "eval": ["judge"], "capo": ["assistant"],
        "expert": ["expert_writer", "assistant"],
        "selftalk": ["client", "agent", "manager"],
    ]

    private static func checkRecipe(_ config: inout Config, reader: ConfigReader, hasRoles: Bool) {
        for role in recipeRoles[config.recipe] ?? []
        where config.roles[role] == nil && !reader.issues.contains(where: { $0.path.hasPrefix("roles.\(role)") }) {
            reader.report(
                "roles.\(role)",
                "missing: the \(config.recipe) recipe needs roles "
                    + "\(recipeRoles[config.recipe]!.joined(separator: " and "))"
            )
        }
        if config.backends.isEmpty && !reader.issues.contains(where: { $0.path.hasPrefix("backends") }) {
            reader.report("backends", "missing: define at least one backend")
        }
    }

    private static func parseTemplate(_ o: ObjectReader, name: String) -> Template {
        func part(_ key: String) -> Template.Part {
            guard let p = o.object(key) else { return Template.Part(prefix: "", suffix: "") }
            let part = Template.Part(
                prefix: p.string("prefix") ?? "", suffix: p.string("suffix") ?? "", opens: p.strings("opens"))
            p.finish()
            return part
        }
        let t = Template(
            name: name, begin: o.string("begin") ?? "", system: part("system"), user: part("user"),
            assistant: part("assistant"), systemInFirstUser: o.bool("system_in_first_user") ?? false,
            stop: o.strings("stop") ?? [])
        o.finish()
        return t
    }

    private static func parseEval(_ o: ObjectReader) -> EvalSettings {
        var e = EvalSettings()
        defer { o.finish() }
        if let m = o.oneOf("mode", EvalSettings.Mode.allCases.map(\.rawValue)) {
            e.mode = EvalSettings.Mode(rawValue: m)!
        }
        if let t = o.object("temperatures") {
            for name in t.fields.keys.sorted() { if let v = t.double(name, max: 5) { e.temperatures[name] = v } }
        }
        if let n = o.int("judge_samples", max: 100) { e.judgeSamples = n }
        if let n = o.int("reask", min: 0, max: 10) { e.reask = n }
        if let s = o.oneOf("inconsistent", ["tie", "inconsistent"]) { e.inconsistentAsTie = s == "tie" }
        if let p = o.object("prompts") {
            if let s = p.string("system") { e.prompts.system = s }
            if let s = p.string("single", nonEmpty: true) { e.prompts.single = s }
            if let s = p.string("reference", nonEmpty: true) { e.prompts.reference = s }
            if let s = p.string("pairwise", nonEmpty: true) { e.prompts.pairwise = s }
            if let s = p.string("reask", nonEmpty: true) { e.prompts.reask = s }
            p.finish()
        }
        return e
    }

    private static func parseCaPO(_ o: ObjectReader) -> CaPOSettings {
        var c = CaPOSettings()
        defer { o.finish() }
        if let list = o.strings("strategies") {
            c.strategies = []
            for (i, name) in list.enumerated() {
                if let s = CaPOSettings.Strategy(rawValue: name) {
                    c.strategies.append(s)
                } else {
                    o.reader.report(
                        o.childPath("strategies") + "[\(i)]",
                        "expected one of "
                            + "\(CaPOSettings.Strategy.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), "
                            + "got \"\(name)\""
                    )
                }
            }
        }
        if let b = o.bool("confirm_with_judge") { c.confirmWithJudge = b }
        if let d = o.double("near_identical", max: 1) { c.nearIdentical = d }
        if let b = o.bool("flat") { c.flat = b }
        if let p = o.object("prompts") {
            if let s = p.string("guess", nonEmpty: true) { c.prompts.guess = s }
            if let s = p.string("misunderstanding", nonEmpty: true) { c.prompts.misunderstanding = s }
            p.finish()
        }
        return c
    }

    private static func parseExpert(_ o: ObjectReader) -> ExpertSettings {
        var e = ExpertSettings()
        defer { o.finish() }
        if let p = o.oneOf("placement", ExpertSettings.Placement.allCases.map(\.rawValue)) {
            e.placement = ExpertSettings.Placement(rawValue: p)!
        }
        if let b = o.bool("clean") { e.clean = b }
        if let s = o.string("writer_instruction", nonEmpty: true) { e.writerInstruction = s }
        if let v = o.raw("examples") {
            guard case .array(let items) = v else {
                o.reader.report(o.childPath("examples"), "expected an array of {instruction, description}")
                return e
            }
            var examples: [ExpertSettings.Example] = []
            for (i, item) in items.enumerated() {
                guard let x = o.reader.object(item, at: o.childPath("examples") + "[\(i)]") else { continue }
                if let ins = x.string("instruction", nonEmpty: true), let desc = x.string("description", nonEmpty: true)
                {
                    examples.append(.init(instruction: ins, description: desc))
                } else if !x.has("instruction") || !x.has("description") {
                    o.reader.report(x.path, "needs instruction and description")
                }
                x.finish()
            }
            if examples.count < 3 {
                o.reader.report(o.childPath("examples"), "give at least 3 examples, got \(examples.count)")
            }
            e.examples = examples
        }
        return e
    }

    private static func parseSelfTalk(_ o: ObjectReader) -> SelfTalkSettings {
        var s = SelfTalkSettings()
        defer { o.finish() }
        if let w = o.string("workflows", nonEmpty: true) {
            s.workflows = w
        } else if !o.has("workflows") {
            o.reader.report(o.childPath("workflows"), "missing: a JSON file with the workflow graph(s)")
        }
        s.personas = o.list("personas")
        s.intentions = o.list("intentions")
        s.characters = o.list("characters")
        if let n = o.int("max_turns") { s.maxTurns = n }
        if let d = o.double("reach_threshold", max: 1) { s.reachThreshold = d }
        if let k = o.strings("closing_keywords") { s.closingKeywords = k.filter { !$0.isEmpty } }
        if let f = o.object("filters") {
            s.minSubgoals = f.int("min_subgoals", min: 0)
            s.topPercent = f.double("top_percent", min: 0.001, max: 100)
            if let b = f.bool("ended_only") { s.endedOnly = b }
            f.finish()
        }
        if let p = o.object("prompts") {
            if let v = p.string("client", nonEmpty: true) { s.prompts.client = v }
            if let v = p.string("agent", nonEmpty: true) { s.prompts.agent = v }
            if let v = p.string("next", nonEmpty: true) { s.prompts.next = v }
            if let v = p.string("off_script", nonEmpty: true) { s.prompts.offScript = v }
            if let v = p.string("manager", nonEmpty: true) { s.prompts.manager = v }
            if let v = p.string("stage", nonEmpty: true) { s.prompts.stage = v }
            p.finish()
        }
        return s
    }

    private static func parseFilters(_ o: ObjectReader) -> FilterConfig {
        var f = FilterConfig()
        defer { o.finish() }
        /// `true` (defaults), `false` (off) or an object of settings.
        func each<T>(_ key: String, _ initial: T, _ read: (ObjectReader, inout T) -> Void) -> T? {
            guard let v = o.raw(key) else { return nil }
            if case .bool(let on) = v { return on ? initial : nil }
            guard let settings = o.object(key) else { return nil }
            var value = initial
            read(settings, &value)
            settings.finish()
            return value
        }
        func action(_ s: ObjectReader) -> FilterConfig.Action? {
            s.oneOf("action", FilterConfig.Action.allCases.map(\.rawValue)).flatMap(FilterConfig.Action.init)
        }
        f.userLength = each("user_length", FilterConfig.UserLength()) { s, v in
            v.min = s.int("min", min: 0)
            v.max = s.int("max")
            if let u = s.oneOf("unit", FilterConfig.Unit.allCases.map(\.rawValue)) {
                v.unit = FilterConfig.Unit(rawValue: u)!
            }
            if let a = action(s) { v.action = a }
            if v.min == nil && v.max == nil { s.reader.report(s.path, "give min, max or both") }
        }
        f.repeats = each("repeat", FilterConfig.Repeat()) { s, v in
            if let t = s.double("threshold", max: 1) { v.threshold = t }
            if let a = action(s) { v.action = a }
        }
        f.duplicates = each("duplicates", FilterConfig.Duplicates()) { s, v in
            if let b = s.bool("first_turn") { v.firstTurn = b }
            if let b = s.bool("dialogue") { v.dialogue = b }
        }
        f.politeCloser = each("polite_closer", FilterConfig.PoliteCloser()) { s, v in
            if let w = s.strings("words") { v.words = w }
            if let w = s.strings("core") { v.core = w }
            if let a = action(s) { v.action = a }
        }
        f.truncated = each("truncated", FilterConfig.Truncated()) { s, v in
            if let a = action(s) { v.action = a }
        }
        f.roleExchange = each("role_exchange", FilterConfig.RoleExchange()) { s, v in
            if let p = s.strings("phrases") { v.phrases = p }
            if let r = s.double("length_ratio", min: 1) { v.lengthRatio = r }
            if let n = s.int("min_words", min: 0) { v.minWords = n }
            if let a = action(s) { v.action = a }
        }
        f.blocklist = each("blocklist", FilterConfig.Blocklist()) { s, v in
            if let t = s.strings("terms") { v.terms = t }
            v.file = s.string("file", nonEmpty: true)
            if let a = action(s) { v.action = a }
            if v.terms.isEmpty && v.file == nil { s.reader.report(s.path, "give terms, a file, or both") }
        }
        return f
    }

    private static func parseCommon(_ o: ObjectReader, _ c: inout BackendCommon) {
        if let n = o.int("max_concurrency", max: 100_000) { c.maxConcurrency = n }
        if let n = o.int("max_retries", min: 0, max: 100) { c.maxRetries = n }
        if let d = o.double("backoff_base_seconds") { c.backoffBaseSeconds = d }
        if let d = o.double("backoff_max_seconds") { c.backoffMaxSeconds = d }
        if let m = o.oneOf("concurrency", ConcurrencyMode.allCases.map(\.rawValue)) {
            c.concurrency = ConcurrencyMode(rawValue: m) ?? c.concurrency
        }
        parseRateLimits(o, &c.rateLimits)
    }

    private static func parseBackend(_ o: ObjectReader) -> BackendConfig? {
        guard let type = o.oneOf("type", ["openai", "scripted", "host"]) else {
            if !o.has("type") { o.reader.report(o.childPath("type"), "missing: \"openai\", \"scripted\" or \"host\"") }
            o.finish(known: Array(o.fields.keys))
            return nil
        }
        defer { o.finish() }
        if type == "host" {
            var c = HostConfig()
            parseCommon(o, &c.common)
            if let d = o.double("chars_per_token", min: 0.5) { c.charsPerToken = d }
            return .host(c)
        }
        if type == "scripted" {
            var c = ScriptedConfig()
            parseCommon(o, &c.common)
            if let w = o.intRange("words") { c.words = w }
            if let d = o.double("latency_ms") { c.latencyMs = d }
            if let d = o.double("jitter_ms") { c.jitterMs = d }
            if let d = o.double("fail_rate", max: 1) { c.failRate = d }
            if let n = o.int("fail_every", min: 0) { c.failEvery = n }
            if let n = o.int("end_at_turn", min: 0) { c.endAtTurn = n }
            return .scripted(c)
        }
        var c = OpenAIConfig()
        parseCommon(o, &c.common)
        parseFleet(o, &c)
        if let m = o.string("model", nonEmpty: true) {
            c.model = m
        } else if !o.has("model") {
            o.reader.report(o.childPath("model"), "missing: the model name the server expects")
        }
        c.apiKeyEnv = o.string("api_key_env", nonEmpty: true)
        if let d = o.double("timeout_seconds", min: 0.001) { c.timeoutSeconds = d }
        if let t = o.oneOf("tokenizer", OpenAIConfig.tokenizers) { c.tokenizer = t }
        c.tokenizeURL = o.string("tokenize_url", nonEmpty: true)
        if let d = o.double("chars_per_token", min: 0.5) { c.charsPerToken = d }
        if let n = o.int("chat_overhead_tokens", min: 0) { c.chatOverheadTokens = n }
        c.cachePrompt = o.bool("cache_prompt")
        return .openai(c)
    }

    private static func parseRole(_ o: ObjectReader, name: String, config: Config) -> RoleConfig {
        var r = RoleConfig(name: name)
        defer { o.finish() }
        if let b = o.string("backend", nonEmpty: true) {
            if config.backends[b] == nil {
                let hint =
                    ConfigReader.closest(to: b, in: Set(config.backends.keys)).map { " (did you mean \"\($0)\"?)" }
                    ?? ""
                o.reader.report(o.childPath("backend"), "no backend named \"\(b)\"\(hint)")
            }
            r.backend = b
        } else if !o.has("backend") {
            o.reader.report(o.childPath("backend"), "missing: the name of a backend")
        }
        r.model = o.string("model", nonEmpty: true)
        if let e = o.oneOf("endpoint", ["chat", "completion"]) { r.endpoint = RoleConfig.Endpoint(rawValue: e)! }
        if let t = o.string("template", nonEmpty: true) {
            if Template.builtins[t] == nil && config.templates[t] == nil {
                let names = Set(Template.builtins.keys).union(config.templates.keys)
                o.reader.report(
                    o.childPath("template"),
                    "unknown template \"\(t)\"; known: \(names.sorted().joined(separator: ", "))")
            }
            r.template = t
        }
        // The asker's default mode follows its endpoint: a completion endpoint continues the transcript.
        r.mode = r.endpoint == .completion ? .trained : .prompted
        if let m = o.oneOf("mode", RoleConfig.AskerMode.allCases.map(\.rawValue)) {
            r.mode = RoleConfig.AskerMode(rawValue: m)!
            if name != "asker" && name != "client" {
                o.reader.report(o.childPath("mode"), "only the asker and client roles have a mode")
            }
            if r.mode == .trained && r.endpoint == .chat {
                o.reader.report(
                    o.childPath("mode"), "\"trained\" continues a transcript and needs \"endpoint\": \"completion\"")
            }
        }
        r.systemPrompt = o.string("system_prompt")
        if let s = o.string("instruction", nonEmpty: true) { r.instruction = s }
        if let s = o.string("opening_instruction", nonEmpty: true) { r.openingInstruction = s }
        if let s = o.string("topic_hint", nonEmpty: true) { r.topicHint = s }
        if let s = o.string("persona_prompt", nonEmpty: true) { r.personaPrompt = s }
        if let s = o.string("style_prompt", nonEmpty: true) { r.stylePrompt = s }
        if ["client", "agent"].contains(name) {
            r.maxTokens = 100
            r.temperature = 0.8
            r.topP = 0.95
        }  // Self-talk's sampling
        if let n = o.int("max_tokens") { r.maxTokens = n }
        if let n = o.int("max_context") {
            r.maxContext = n
            r.maxContextGiven = true
        }
        // Judges are greedy unless told otherwise.
        if let d = o.double("temperature", max: 5) {
            r.temperature = d
        } else if name == "judge" {
            r.temperature = 0
        }
        if let d = o.double("top_p", max: 1) { r.topP = d }
        if let s = o.strings("stop") { r.stop = s }
        if let b = o.bool("keep_first_exchange") { r.keepFirstExchange = b }
        if let n = o.int("margin_tokens", min: 0) { r.marginTokens = n }
        if let b = o.bool("expert") {
            r.expert = b
            if name != "assistant" {
                o.reader.report(o.childPath("expert"), "only the assistant role answers as an expert")
            }
        }
        if r.maxTokens + r.marginTokens >= r.maxContext {
            o.reader.report(
                o.childPath("max_tokens"), "\(r.maxTokens) leaves no room for a prompt in max_context \(r.maxContext)")
        }
        return r
    }

    /// Everything but the operational settings that may change between resumes.
    static func fingerprint(of root: JSONValue) -> String {
        guard case .object(var top) = root else { return "" }
        top["output"] = top["output"]?.objectValue.map { o in .object(o.filter { $0.key != "dir" }) }
        if case .object(let run)? = top["run"] {
            top["run"] = .object(run.filter { $0.key == "seed" || $0.key == "limit" })
        }
        if case .object(let backends)? = top["backends"] {
            let operational = Set<String>(
                [
                    "max_concurrency", "timeout_seconds", "max_retries", "backoff_base_seconds",
                    "backoff_max_seconds", "base_url", "api_key_env", "latency_ms", "jitter_ms",
                    "fail_rate", "fail_every", "endpoints", "routing", "concurrency",
                    "cache_prompt",
                ] + RateLimitConfig.keys)
            top["backends"] = .object(
                backends.mapValues { b in
                    b.objectValue.map { .object($0.filter { !operational.contains($0.key) }) } ?? b
                })
        }
        var h = StableHash()
        h.combine(JSONValue.object(top).canonicalText)
        return h.hex
    }

    public static func describe(_ error: Error) -> String {
        if let e = error as? DecodingError, case .dataCorrupted(let ctx) = e {
            return (ctx.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
                ?? ctx.debugDescription
        }
        return "\(error)"
    }
}

extension JSONValue {
    /// Sets the value at a dotted path (`roles.asker.max_tokens`), creating objects on the way:
    /// how `--set PATH=VALUE` overrides a config file.
    public func setting(_ path: String, to value: JSONValue) throws(ConfigError) -> JSONValue {
        let keys = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !keys.contains(where: \.isEmpty) else {
            throw ConfigError(issues: [ConfigIssue(path: path, message: "not a valid key path")])
        }
        func set(_ node: JSONValue, _ rest: ArraySlice<String>, at prefix: String) throws(ConfigError) -> JSONValue {
            guard let key = rest.first else { return value }
            var fields: [String: JSONValue]
            switch node {
            case .object(let o): fields = o
            case .null: fields = [:]
            default:
                throw ConfigError(issues: [
                    ConfigIssue(
                        path: prefix,
                        message: "cannot set \(path): \(prefix) is \(node.shortDescription), not an object")
                ])
            }
            let here = prefix.isEmpty ? key : prefix + "." + key
            fields[key] = try set(fields[key] ?? .null, rest.dropFirst(), at: here)
            return .object(fields)
        }
        return try set(self, keys[...], at: "")
    }

    /// A command-line value: JSON if it parses as JSON, otherwise the text as a string.
    public static func fromArgument(_ text: String) -> JSONValue {
        (try? JSONValue.parse(text)) ?? .string(text)
    }
}
