extension Config {
    /// `recipe: "eval"`: modes, temperatures, judge prompts.
    public var eval: EvalSettings {
        get { sections[EvalSettings.self] }
        set { sections[EvalSettings.self] = newValue }
    }
}

extension EvalSettings: RecipeSettings {
    static let section = "eval"

    /// Reads the `eval` section.
    init(reading o: ObjectReader) {
        self.init()
        defer { o.finish() }
        if let m = o.oneOf("mode", EvalSettings.Mode.allCases.map(\.rawValue)) {
            mode = EvalSettings.Mode(rawValue: m)!
        }
        if let t = o.object("temperatures") {
            for name in t.fields.keys.sorted() { if let v = t.double(name, max: 5) { temperatures[name] = v } }
        }
        if let n = o.int("judge_samples", max: 100) { judgeSamples = n }
        if let n = o.int("reask", min: 0, max: 10) { reask = n }
        if let s = o.oneOf("inconsistent", ["tie", "inconsistent"]) { inconsistentAsTie = s == "tie" }
        judgePrompts = o.string("judge_prompts", nonEmpty: true)
        if let b = o.bool("structured") { structured = b }
        if let p = o.object("prompts") {
            if let s = p.string("system") { prompts.system = s }
            if let s = p.string("single", nonEmpty: true) { prompts.single = s }
            if let s = p.string("reference", nonEmpty: true) { prompts.reference = s }
            if let s = p.string("pairwise", nonEmpty: true) { prompts.pairwise = s }
            if let s = p.string("reask", nonEmpty: true) { prompts.reask = s }
            p.finish()
        }
    }
}
