extension Config {
    /// ExpertPrompting (`recipe: "expert"`, or `roles.assistant.expert`).
    public var expert: ExpertSettings {
        get { sections[ExpertSettings.self] }
        set { sections[ExpertSettings.self] = newValue }
    }
}

extension ExpertSettings: RecipeSettings {
    static let section = "expert"

    /// Reads the `expert` section.
    init(reading o: ObjectReader) {
        self.init()
        defer { o.finish() }
        if let p = o.oneOf("placement", ExpertSettings.Placement.allCases.map(\.rawValue)) {
            placement = ExpertSettings.Placement(rawValue: p)!
        }
        if let b = o.bool("clean") { clean = b }
        if let s = o.string("writer_instruction", nonEmpty: true) { writerInstruction = s }
        if let s = o.string("answer_instruction", nonEmpty: true) { answerInstruction = s }
        if let v = o.raw("examples") {
            guard case .array(let items) = v else {
                o.reader.report(o.childPath("examples"), "expected an array of {instruction, description}")
                return
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
            self.examples = examples
        }
    }
}
