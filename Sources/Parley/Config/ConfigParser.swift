import FoundationEssentials

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
            if let d = o.string("dir", nonEmpty: true, .operational) { config.output.dir = d }
            if let f = o.strings("formats") {
                let names = Config.OutputFormat.allCases.map(\.rawValue)
                for (i, name) in f.enumerated() where Config.OutputFormat(rawValue: name) == nil {
                    reader.report(
                        "output.formats[\(i)]", "expected one of \(names.joined(separator: ", ")), got \"\(name)\"")
                }
                config.output.formats = [.sharegpt] + f.compactMap(Config.OutputFormat.init).filter { $0 != .sharegpt }
            }
            o.finish()
        }
        if let o = top.object("run") {
            if let s = o.int("seed", min: 0) { config.run.seed = UInt64(s) }
            if let c = o.int("concurrency", max: 1_000_000, .operational) { config.run.concurrency = c }
            config.run.limit = o.int("limit")
            if let p = o.double("progress_seconds", min: 0.1, .operational) { config.run.progressSeconds = p }
            if let d = o.oneOf("durability", Config.Durability.allCases.map(\.rawValue), .operational) {
                config.run.durability = Config.Durability(rawValue: d) ?? .process
            }
            if let b = o.object("budget", .operational) { config.run.budget = parseBudget(b) }
            if let m = o.object("metrics", .operational) { config.run.metrics = MetricsSettings(reading: m) }
            if let text = o.string("shard", .operational) {
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
        for case let settings? in RecipeRegistry.all.map({ $0.settings }) {
            if let o = top.object(settings.section) { config.sections.keep(settings.init(reading: o)) }
        }
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
        config.fingerprint = fingerprint(of: root, operational: reader.operationalPaths)
        config.json = root
        return config
    }

    private static func checkRecipe(_ config: inout Config, reader: ConfigReader, hasRoles: Bool) {
        let required = (RecipeRegistry.kind(named: config.recipe).map { $0.roles } ?? []).filter(\.required).map(\.name)
        for role in required
        where config.roles[role] == nil && !reader.issues.contains(where: { $0.path.hasPrefix("roles.\(role)") }) {
            reader.report(
                "roles.\(role)",
                "missing: the \(config.recipe) recipe needs roles \(required.joined(separator: " and "))")
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
        if let n = o.int("max_concurrency", max: 100_000, .operational) { c.maxConcurrency = n }
        if let n = o.int("max_retries", min: 0, max: 100, .operational) { c.maxRetries = n }
        if let d = o.double("backoff_base_seconds", .operational) { c.backoffBaseSeconds = d }
        if let d = o.double("backoff_max_seconds", .operational) { c.backoffMaxSeconds = d }
        if let m = o.oneOf("concurrency", ConcurrencyMode.allCases.map(\.rawValue), .operational) {
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
            if let b = o.bool("blocking", .operational) { c.blocking = b }
            return .host(c)
        }
        if type == "scripted" {
            var c = ScriptedConfig()
            parseCommon(o, &c.common)
            if let w = o.intRange("words") { c.words = w }
            if let d = o.double("latency_ms", .operational) { c.latencyMs = d }
            if let d = o.double("jitter_ms", .operational) { c.jitterMs = d }
            if let d = o.double("fail_rate", max: 1, .operational) { c.failRate = d }
            if let n = o.int("fail_every", min: 0, .operational) { c.failEvery = n }
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
        c.apiKeyEnv = o.string("api_key_env", nonEmpty: true, .operational)
        if let d = o.double("timeout_seconds", min: 0.001, .operational) { c.timeoutSeconds = d }
        if let t = o.oneOf("tokenizer", OpenAIConfig.Tokenizer.allCases.map(\.rawValue)) {
            c.tokenizer = OpenAIConfig.Tokenizer(rawValue: t) ?? .estimate
        }
        c.tokenizeURL = o.string("tokenize_url", nonEmpty: true)
        if let d = o.double("chars_per_token", min: 0.5) { c.charsPerToken = d }
        if let n = o.int("chat_overhead_tokens", min: 0) { c.chatOverheadTokens = n }
        c.cachePrompt = o.bool("cache_prompt", .operational)
        return .openai(c)
    }

    private static func parseRole(_ o: ObjectReader, name: String, config: Config) -> RoleConfig {
        var r = RoleConfig(name: name)
        defer { o.finish() }
        let declared = RecipeRegistry.declaration(of: name, in: config.recipe)
        declared?.defaults(&r)
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
            if declared?.playsUser != true {
                let users = RecipeRegistry.all.flatMap { $0.roles }.filter(\.playsUser).map(\.name)
                o.reader.report(o.childPath("mode"), "only the \(users.joined(separator: " and ")) roles have a mode")
            }
            if r.mode == .trained && r.endpoint == .chat {
                o.reader.report(
                    o.childPath("mode"), "\"trained\" continues a transcript and needs \"endpoint\": \"completion\"")
            }
        }
        r.systemPrompt = o.string("system_prompt")
        if let s = o.string("instruction", nonEmpty: true) { r.instruction = s }
        if let s = o.string("opening_instruction", nonEmpty: true) { r.openingInstruction = s }
        if let t = o.object("transcript") {
            if r.mode != .prompted { o.reader.report(t.path, "only the prompted mode writes a transcript") }
            if let s = t.string("user") { r.transcript.user = s }
            if let s = t.string("assistant") { r.transcript.assistant = s }
            if let s = t.string("separator") { r.transcript.separator = s }
            if let s = t.oneOf("instruction", Transcript.InstructionPlace.allCases.map(\.rawValue)) {
                r.transcript.instruction = Transcript.InstructionPlace(rawValue: s) ?? .after
            }
            t.finish()
        }
        if let s = o.string("topic_hint", nonEmpty: true) { r.topicHint = s }
        if let s = o.string("persona_prompt", nonEmpty: true) { r.personaPrompt = s }
        if let s = o.string("style_prompt", nonEmpty: true) { r.stylePrompt = s }
        if let n = o.int("max_tokens") { r.maxTokens = n }
        if let n = o.int("max_context") {
            r.maxContext = n
            r.maxContextGiven = true
        }
        if let d = o.double("temperature", max: 5) { r.temperature = d }
        if let d = o.double("top_p", max: 1) { r.topP = d }
        if let s = o.strings("stop") { r.stop = s }
        if let b = o.bool("keep_first_exchange") { r.keepFirstExchange = b }
        if let p = o.object("params") {
            for key in p.fields.keys.sorted() where RoleConfig.ownRequestFields.contains(key) {
                let own = ["max_tokens", "temperature", "top_p", "stop"].contains(key)
                p.reader.report(
                    p.childPath(key),
                    own ? "Parley sets it from \(o.childPath(key)); set that instead" : "Parley sets it itself")
            }
            r.params = p.fields
        }
        if let s = o.oneOf("on_full", RoleConfig.OnFull.allCases.map(\.rawValue)) {
            r.onFull = RoleConfig.OnFull(rawValue: s) ?? .window
        }
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

    /// The hash of the config without its operational fields (see `FieldUse`).
    static func fingerprint(of root: JSONValue, operational: Set<String>) -> String {
        func defining(_ value: JSONValue, at path: String) -> JSONValue {
            guard case .object(let fields) = value else { return value }
            var kept: [String: JSONValue] = [:]
            for (key, v) in fields {
                let child = path.isEmpty ? key : "\(path).\(key)"
                if !operational.contains(child) { kept[key] = defining(v, at: child) }
            }
            return .object(kept)
        }
        var h = StableHash()
        h.combine(defining(root, at: "").canonicalText)
        return h.hex
    }

    public static func describe(_ error: Error) -> String {
        if let e = error as? DecodingError, case .dataCorrupted(let ctx) = e {
            return ctx.debugDescription
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
