extension Config {
    /// `recipe: "capo"`: strategies and prompts of the preference pairs.
    public var capo: CaPOSettings {
        get { sections[CaPOSettings.self] }
        set { sections[CaPOSettings.self] = newValue }
    }
}

extension CaPOSettings: RecipeSettings {
    static let section = "capo"

    /// Reads the `capo` section.
    init(reading o: ObjectReader) {
        self.init()
        defer { o.finish() }
        if let list = o.strings("strategies") {
            strategies = []
            for (i, name) in list.enumerated() {
                if let s = CaPOSettings.Strategy(rawValue: name) {
                    strategies.append(s)
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
        if let b = o.bool("confirm_with_judge") { confirmWithJudge = b }
        if let d = o.double("near_identical", max: 1) { nearIdentical = d }
        if let b = o.bool("flat") { flat = b }
        if let p = o.object("prompts") {
            if let s = p.string("guess", nonEmpty: true) { prompts.guess = s }
            if let s = p.string("referent", nonEmpty: true) { prompts.referent = s }
            if let s = p.string("misunderstanding", nonEmpty: true) { prompts.misunderstanding = s }
            p.finish()
        }
    }
}
