import FoundationEssentials

/// What evaluation runs say, per model: the mean score per turn index (how answers hold
/// up as the conversation grows), per category and overall, with the counts of scored
/// and unscored turns; for pairwise runs, wins, ties, losses and inconsistencies.
public struct EvalReport: Sendable {
    /// Running mean of scores with the count of turns that could not be scored.
    public struct Tally: Sendable, Equatable {
        public var sum = 0.0, scored = 0, unscored = 0
        public var mean: Double? { scored == 0 ? nil : sum / Double(scored) }
        mutating func add(_ score: Double?) {
            if let score {
                sum += score
                scored += 1
            } else {
                unscored += 1
            }
        }
    }

    public struct ModelScores: Sendable {
        public var name: String
        public var run: String
        public var sessions = 0
        public var failedSessions = 0
        /// Judged turns whose verdicts all came from schema-constrained replies (`eval.structured`).
        public var structured = 0
        public var overall = Tally()
        public var perTurn: [Int: Tally] = [:]
        public var perCategory: [String: Tally] = [:]
        /// Mean standard deviation of the judge's samples, where a turn had several.
        public var sampleSpread: Double?
    }

    public struct Pairwise: Sendable {
        public var a: String, b: String, run: String
        public var wins = 0, losses = 0, ties = 0, inconsistent = 0, unscored = 0, structured = 0
        public var judged: Int { wins + losses + ties + inconsistent }
        public var inconsistencyRate: Double? { judged == 0 ? nil : Double(inconsistent) / Double(judged) }
    }

    public var models: [ModelScores] = []
    public var pairwise: [Pairwise] = []

    public init() {}

    /// Reads the `dialogues.jsonl` and `failures.jsonl` of evaluation run directories.
    public static func load(runs: [String]) throws -> EvalReport {
        var report = EvalReport()
        for dir in runs {
            let runName = URL(fileURLWithPath: dir).lastPathComponent
            let reader = try DatasetReader(path: dir + "/dialogues.jsonl", shape: .sharegpt)
            var single: [String: ModelScores] = [:]
            var pairs: [String: Pairwise] = [:]
            var spreads: [String: [Double]] = [:]
            while let row = reader.nextObject() {
                let meta = row["meta"]?.objectValue ?? [:]
                guard case .array(let items)? = meta["judgments"] else { continue }
                let judgments = items.compactMap {
                    try? JSONDecoder().decode(Judgment.self, from: Data($0.canonicalText.utf8))
                }
                if case .array(let names)? = meta["models"] {
                    let a = names.first?.stringValue ?? "A"
                    let b = names.count > 1 ? names[1].stringValue ?? "B" : "B"
                    var p = pairs["\(a)|\(b)"] ?? Pairwise(a: a, b: b, run: runName)
                    for j in judgments {
                        if j.structured == true { p.structured += 1 }
                        switch j.verdict {
                        case "a": p.wins += 1
                        case "b": p.losses += 1
                        case "tie": p.ties += 1
                        case "inconsistent": p.inconsistent += 1
                        default: p.unscored += 1
                        }
                    }
                    pairs["\(a)|\(b)"] = p
                    continue
                }
                let name = meta["model"]?.stringValue ?? runName
                let category = meta["category"]?.stringValue ?? "general"
                var m = single[name] ?? ModelScores(name: name, run: runName)
                m.sessions += 1
                for j in judgments {
                    if j.structured == true { m.structured += 1 }
                    m.overall.add(j.score)
                    m.perTurn[j.turn, default: Tally()].add(j.score)
                    m.perCategory[category, default: Tally()].add(j.score)
                    if j.samples.count > 1 { spreads[name, default: []].append(Self.standardDeviation(j.samples)) }
                }
                single[name] = m
            }
            let failed = (try? DatasetReader.lineCount(dir + "/failures.jsonl")) ?? 0
            for name in single.keys.sorted() {
                var m = single[name]!
                m.failedSessions = single.count == 1 ? failed : 0  // a run of one model: its failures are that model's
                m.sampleSpread = spreads[name].map { $0.reduce(0, +) / Double($0.count) }
                report.models.append(m)
            }
            report.pairwise += pairs.keys.sorted().map { pairs[$0]! }
        }
        // The same model in several runs: tell the rows apart by their run.
        let names = report.models.map(\.name)
        for i in report.models.indices where names.filter({ $0 == report.models[i].name }).count > 1 {
            report.models[i].name += " (\(report.models[i].run))"
        }
        return report
    }

    static func standardDeviation(_ xs: [Double]) -> Double {
        let mean = xs.reduce(0, +) / Double(xs.count)
        return (xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count)).squareRoot()
    }

    public var turnIndices: [Int] { Array(Set(models.flatMap { $0.perTurn.keys })).sorted() }
    public var categories: [String] { Array(Set(models.flatMap { $0.perCategory.keys })).sorted() }

    // MARK: - JSON

    public var json: String {
        var w = JSONWriter()
        func tally(_ t: Tally) {
            w.beginObject()
            w.key("mean")
            if let m = t.mean { w.double(m) } else { w.null() }
            w.field("scored", t.scored)
            w.field("unscored", t.unscored)
            w.endObject()
        }
        w.beginObject()
        w.key("models")
        w.beginArray()
        for m in models {
            w.beginObject()
            w.field("model", m.name)
            w.field("run", m.run)
            w.field("sessions", m.sessions)
            w.field("failed_sessions", m.failedSessions)
            w.field("structured_verdicts", m.structured)
            w.key("overall")
            tally(m.overall)
            w.key("per_turn")
            w.beginObject()
            for t in m.perTurn.keys.sorted() {
                w.key(String(t))
                tally(m.perTurn[t]!)
            }
            w.endObject()
            w.key("per_category")
            w.beginObject()
            for c in m.perCategory.keys.sorted() {
                w.key(c)
                tally(m.perCategory[c]!)
            }
            w.endObject()
            w.key("sample_spread")
            if let s = m.sampleSpread { w.double(s) } else { w.null() }
            w.endObject()
        }
        w.endArray()
        w.key("pairwise")
        w.beginArray()
        for p in pairwise {
            w.beginObject()
            w.field("a", p.a)
            w.field("b", p.b)
            w.field("run", p.run)
            w.field("a_wins", p.wins)
            w.field("b_wins", p.losses)
            w.field("ties", p.ties)
            w.field("inconsistent", p.inconsistent)
            w.field("unscored", p.unscored)
            w.field("structured_verdicts", p.structured)
            w.key("inconsistency_rate")
            if let r = p.inconsistencyRate { w.double(r) } else { w.null() }
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    // MARK: - Markdown

    public var markdown: String {
        var out = ""
        if !models.isEmpty {
            let turns = turnIndices
            let cats = categories
            func cell(_ t: Tally?) -> String {
                guard let t else { return "–" }
                let mean = t.mean.map { HTMLReport.f($0, digits: 2) } ?? "–"
                return t.unscored > 0 ? "\(mean) (\(t.unscored) unscored)" : mean
            }
            out +=
                "| model | overall | scored | unscored | failed sessions | "
                + turns.map { "turn \($0)" }.joined(separator: " | ") + " |\n"
            out += "|---|---:|---:|---:|---:|" + String(repeating: "---:|", count: turns.count) + "\n"
            for m in models {
                let mean = m.overall.mean.map { HTMLReport.f($0, digits: 2) } ?? "–"
                out +=
                    "| \(m.name) | \(mean) | \(m.overall.scored) "
                    + "| \(m.overall.unscored) | \(m.failedSessions) | "
                out += turns.map { cell(m.perTurn[$0]) }.joined(separator: " | ") + " |\n"
            }
            out +=
                "\n| model | " + cats.joined(separator: " | ") + " |\n|---|"
                + String(repeating: "---:|", count: cats.count) + "\n"
            for m in models {
                out += "| \(m.name) | " + cats.map { cell(m.perCategory[$0]) }.joined(separator: " | ") + " |\n"
            }
        }
        if !pairwise.isEmpty {
            if !out.isEmpty { out += "\n" }
            out +=
                "| A | B | A wins | B wins | ties | inconsistent | unscored | inconsistency rate "
                + "|\n|---|---|---:|---:|---:|---:|---:|---:|\n"
            for p in pairwise {
                out += "| \(p.a) | \(p.b) | \(p.wins) | \(p.losses) | \(p.ties) | \(p.inconsistent) | \(p.unscored) | "
                out += (p.inconsistencyRate.map { HTMLReport.f($0 * 100, digits: 1) + "%" } ?? "–") + " |\n"
            }
        }
        return out
    }

    // MARK: - HTML

    public var html: String {
        var body = "<h1>Parley evaluation</h1>\n"
        if !models.isEmpty {
            body += HTMLReport.section(
                "Score per turn",
                "Mean judge score (1–10) at each turn of the sessions; unscored turns are left out of the mean and "
                    + "counted in the table.",
                perTurnChart())
        }
        body += "<h2>Tables</h2>\n" + Self.htmlTables(markdown)
        return HTMLReport.page(title: "Parley evaluation", body: body)
    }

    /// The Markdown tables as HTML tables.
    static func htmlTables(_ markdown: String) -> String {
        markdown.split(separator: "\n\n", omittingEmptySubsequences: false).map { block in
            let lines = block.split(separator: "\n").filter { !$0.hasPrefix("|---") }
            let rows = lines.map { line -> [String] in
                let cells = line.trimmingScalars { $0 == "|" || $0 == " " }
                return cells.split(separator: " | ", omittingEmptySubsequences: false).map(String.init)
            }
            guard let head = rows.first else { return "" }
            return "<table><tr>" + head.map { "<th>\(HTMLReport.escape($0))</th>" }.joined() + "</tr>\n"
                + rows.dropFirst().map { "<tr>" + $0.map { "<td>\(HTMLReport.escape($0))</td>" }.joined() + "</tr>\n" }
                .joined()
                + "</table>\n"
        }.joined()
    }

    /// One line per model over the turn indices, on a fixed 1–10 scale.
    func perTurnChart() -> String {
        let turns = turnIndices
        let width = 900.0
        let height = 320.0
        let left = 40.0
        let right = 160.0
        let top = 12.0
        let bottom = 30.0
        let plotW = width - left - right
        let plotH = height - top - bottom
        func x(_ i: Int) -> Double {
            turns.count == 1 ? left + plotW / 2 : left + plotW * Double(i) / Double(turns.count - 1)
        }
        func y(_ v: Double) -> Double { top + plotH * (10 - v) / 9 }
        var svg =
            "<svg class=\"chart\" data-chart=\"per-turn\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" "
            + "role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">"
        for v in stride(from: 1.0, through: 10, by: 1) {
            svg +=
                "<line x1=\"\(HTMLReport.f(left))\" x2=\"\(HTMLReport.f(left + plotW))\" y1=\"\(HTMLReport.f(y(v)))\" "
                + "y2=\"\(HTMLReport.f(y(v)))\" stroke=\"#eee\"/>"
            svg +=
                "<text x=\"\(HTMLReport.f(left - 6))\" y=\"\(HTMLReport.f(y(v) + 4))\" "
                + "text-anchor=\"end\">\(Int(v))</text>"
        }
        for (i, t) in turns.enumerated() {
            svg +=
                "<text x=\"\(HTMLReport.f(x(i)))\" y=\"\(HTMLReport.f(height - 10))\" text-anchor=\"middle\">turn "
                + "\(t)</text>"
        }
        for (k, m) in models.enumerated() {
            let points = turns.enumerated().compactMap { i, t in m.perTurn[t]?.mean.map { (x(i), y($0), $0, t) } }
            let color = HTMLReport.color(k)
            if points.count > 1 {
                svg +=
                    "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\""
                    + points.map { "\(HTMLReport.f($0.0)),\(HTMLReport.f($0.1))" }.joined(separator: " ") + "\"/>"
            }
            for p in points {
                svg +=
                    "<circle cx=\"\(HTMLReport.f(p.0))\" cy=\"\(HTMLReport.f(p.1))\" r=\"4\" "
                    + "fill=\"\(color)\"><title>\(HTMLReport.escape(m.name)), turn \(p.3): "
                    + "\(HTMLReport.f(p.2, digits: 2))</title></circle>"
            }
            svg +=
                "<text x=\"\(HTMLReport.f(left + plotW + 10))\" y=\"\(HTMLReport.f(top + 14 + 16 * Double(k)))\" "
                + "style=\"fill:\(color)\">\(HTMLReport.escape(m.name))</text>"
        }
        return svg + "</svg>"
    }
}

extension EvalReport {
    /// The report's files in `dir` (created if needed): report.json, report.md and report.html.
    public func write(into dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try (json + "\n").write(toFile: dir + "/report.json", atomically: true, encoding: .utf8)
        try markdown.write(toFile: dir + "/report.md", atomically: true, encoding: .utf8)
        try html.write(toFile: dir + "/report.html", atomically: true, encoding: .utf8)
    }
}
