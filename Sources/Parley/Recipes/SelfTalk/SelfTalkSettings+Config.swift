extension Config {
    /// `recipe: "selftalk"`: workflows, personas, limits, filters.
    public var selftalk: SelfTalkSettings {
        get { sections[SelfTalkSettings.self] }
        set { sections[SelfTalkSettings.self] = newValue }
    }
}

extension SelfTalkSettings: RecipeSettings {
    static let section = "selftalk"

    /// Reads the `selftalk` section.
    init(reading o: ObjectReader) {
        self.init()
        defer { o.finish() }
        if let w = o.string("workflows", nonEmpty: true) {
            workflows = w
        } else if !o.has("workflows") {
            o.reader.report(o.childPath("workflows"), "missing: a JSON file with the workflow graph(s)")
        }
        personas = o.list("personas")
        intentions = o.list("intentions")
        characters = o.list("characters")
        if let n = o.int("max_turns") { maxTurns = n }
        if let d = o.double("reach_threshold", max: 1) { reachThreshold = d }
        if let k = o.strings("closing_keywords") { closingKeywords = k.filter { !$0.isEmpty } }
        if let b = o.bool("structured") { structured = b }
        if let f = o.object("filters") {
            minSubgoals = f.int("min_subgoals", min: 0)
            topPercent = f.double("top_percent", min: 0.001, max: 100)
            if let b = f.bool("ended_only") { endedOnly = b }
            f.finish()
        }
        if let p = o.object("prompts") {
            if let v = p.string("client", nonEmpty: true) { prompts.client = v }
            if let v = p.string("agent", nonEmpty: true) { prompts.agent = v }
            if let v = p.string("next", nonEmpty: true) { prompts.next = v }
            if let v = p.string("off_script", nonEmpty: true) { prompts.offScript = v }
            if let v = p.string("manager", nonEmpty: true) { prompts.manager = v }
            if let v = p.string("stage", nonEmpty: true) { prompts.stage = v }
            p.finish()
        }
    }
}
