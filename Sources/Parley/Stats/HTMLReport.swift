/// `parley stats --out`: a self-contained HTML page (no scripts, no external files)
/// with the comparison table and inline SVG charts — turns per dialogue, turn
/// lengths, and the headline metrics of the datasets side by side.
public enum HTMLReport {
    public static func render(_ sets: [DatasetSummary], title: String = "Parley dataset statistics") -> String {
        var body = "<h1>\(escape(title))</h1>\n"
        body += legend(sets)
        body += table(sets)

        let maxTurns = min(sets.flatMap { $0.turnHistogram.keys }.max() ?? 1, 30)
        let turnLabels = (1...max(maxTurns, 1)).map { $0 == 30 ? "30+" : String($0) }
        body += section(
            "Turns per dialogue", "Share of each dataset's dialogues with this many user turns.",
            groupedBars(
                id: "turns", categories: turnLabels,
                series: sets.map { s in
                    let total = max(s.dialogues, 1)
                    return (1...max(maxTurns, 1)).map { n in
                        let count =
                            n == 30
                            ? s.turnHistogram.filter { $0.key >= 30 }.values.reduce(0, +) : s.turnHistogram[n] ?? 0
                        return Double(count) / Double(total)
                    }
                }, names: sets.map(\.name), percent: true))
        let bins = DatasetSummary.lengthBins.indices.map(DatasetSummary.binLabel)
        body += section(
            "Words per user turn", "Share of user turns by length in words.",
            groupedBars(
                id: "user-lengths", categories: bins, series: sets.map { shares($0.userLengthBins) },
                names: sets.map(\.name), percent: true))
        body += section(
            "Words per assistant turn", "Share of assistant turns by length in words.",
            groupedBars(
                id: "assistant-lengths", categories: bins, series: sets.map { shares($0.assistantLengthBins) },
                names: sets.map(\.name), percent: true))
        let metrics: [(String, (DatasetSummary) -> Double?)] = [
            ("Mean turns", { $0.turns.mean }), ("MTLD (user)", { $0.mtld }), ("Distinct-2 (user)", { $0.distinct2 }),
            ("Self-ROUGE-L ×100", { $0.selfRouge.mean.map { $0 * 100 } }),
            ("Context-dependent turns / dialogue", { $0.contextDependentPerDialogue }),
            ("Topic shifts / dialogue", { $0.topicShiftsPerDialogue }),
        ]
        body += section(
            "Side by side", "The headline figures; each panel has its own scale.",
            metrics.map { name, value in metricPanel(name, sets.map(value), names: sets.map(\.name)) }.joined())
        return page(title: title, body: body)
    }

    /// A self-contained page around `body`.
    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
        table{border-collapse:collapse;margin:1em 0}\
        td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}
        td:first-child,th:first-child{text-align:left}h2{margin-top:2em}.note{color:#666}
        .legend span{display:inline-block;margin-right:1.5em}\
        .swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
        .panels{display:flex;flex-wrap:wrap;gap:12px}svg text{font:11px system-ui,sans-serif;fill:#333}
        </style></head><body>
        \(body)</body></html>

        """
    }

    static let colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]
    static func color(_ i: Int) -> String { colors[i % colors.count] }

    static func shares(_ counts: [Int]) -> [Double] {
        let total = max(counts.reduce(0, +), 1)
        return counts.map { Double($0) / Double(total) }
    }

    static func legend(_ sets: [DatasetSummary]) -> String {
        "<p class=\"legend\">"
            + sets.enumerated().map { i, s in
                "<span><i class=\"swatch\" style=\"background:\(color(i))\"></i>\(escape(s.name)) <small "
                    + "class=\"note\">(\(s.dialogues) dialogues, \(escape(s.shape)))</small></span>"
            }.joined() + "</p>\n"
    }

    static func table(_ sets: [DatasetSummary]) -> String {
        var t = "<table><tr><th></th>" + sets.map { "<th>\(escape($0.name))</th>" }.joined() + "</tr>\n"
        for (label, cells) in StatsReport.rows(sets) {
            t += "<tr><td>\(escape(label))</td>" + cells.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n"
        }
        return t + "</table>\n"
    }

    static func section(_ title: String, _ note: String, _ content: String) -> String {
        "<h2>\(escape(title))</h2><p class=\"note\">\(escape(note))</p>\n\(content)\n"
    }

    /// Bars grouped by category, one colour per dataset, on a shared 0…max scale.
    static func groupedBars(id: String, categories: [String], series: [[Double]], names: [String], percent: Bool)
        -> String
    {
        let width = 1000.0
        let height = 260.0
        let left = 48.0
        let bottom = 28.0
        let top = 10.0
        let plotW = width - left - 10
        let plotH = height - top - bottom
        let top1 = niceMax(series.flatMap { $0 }.max() ?? 0)
        let groupW = plotW / Double(max(categories.count, 1))
        let barW = max(1, (groupW * 0.8) / Double(max(series.count, 1)))
        var svg =
            "<svg class=\"chart\" data-chart=\"\(id)\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" "
            + "role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">"
        for k in 0...4 {
            let v = top1 * Double(k) / 4
            let y = top + plotH - plotH * Double(k) / 4
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(width - 10))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#e5e5e5\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(label(v, percent))</text>"
        }
        for (c, name) in categories.enumerated() {
            let x0 = left + groupW * Double(c) + groupW * 0.1
            for (s, values) in series.enumerated() {
                let v = c < values.count ? values[c] : 0
                let h = top1 > 0 ? plotH * v / top1 : 0
                svg +=
                    "<rect x=\"\(f(x0 + barW * Double(s)))\" y=\"\(f(top + plotH - h))\" width=\"\(f(barW))\" "
                    + "height=\"\(f(h))\" fill=\"\(color(s))\">"
                svg += "<title>\(escape(names[s])) · \(escape(name)): \(label(v, percent))</title></rect>"
            }
            svg +=
                "<text x=\"\(f(left + groupW * (Double(c) + 0.5)))\" y=\"\(f(height - 10))\" "
                + "text-anchor=\"middle\">\(escape(name))</text>"
        }
        return svg + "</svg>"
    }

    /// One metric across datasets: horizontal bars with their values.
    static func metricPanel(_ title: String, _ values: [Double?], names: [String]) -> String {
        let width = 340.0
        let rowH = 22.0
        let head = 22.0
        let height = head + rowH * Double(values.count) + 6
        let top1 = max(values.compactMap { $0 }.max() ?? 0, 1e-9)
        var svg =
            "<svg class=\"chart\" data-chart=\"metric\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
            + "width=\"\(Int(width))\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<text x=\"0\" y=\"14\" style=\"font-weight:600\">\(escape(title))</text>"
        for (i, v) in values.enumerated() {
            let y = head + rowH * Double(i)
            let w = (v ?? 0) / top1 * (width - 70)
            svg +=
                "<rect x=\"0\" y=\"\(f(y))\" width=\"\(f(w))\" height=\"\(f(rowH - 6))\" "
                + "fill=\"\(color(i))\"><title>\(escape(names[i]))</title></rect>"
            svg += "<text x=\"\(f(w + 4))\" y=\"\(f(y + rowH - 10))\">\(v.map { label($0, false) } ?? "n/a")</text>"
        }
        return svg + "</svg>"
    }

    /// A round upper bound for an axis.
    static func niceMax(_ x: Double) -> Double {
        guard x > 0 else { return 1 }
        var step = 1.0
        while step < x { step *= 10 }
        while step / 10 >= x { step /= 10 }
        for m in [0.1, 0.2, 0.25, 0.5, 1.0] where step * m >= x { return step * m }
        return step
    }

    static func label(_ v: Double, _ percent: Bool) -> String {
        if percent { return f(v * 100, digits: 1) + "%" }
        return abs(v) >= 100 ? f(v, digits: 0) : f(v, digits: abs(v) >= 10 ? 1 : 3)
    }

    static func f(_ x: Double, digits: Int = 1) -> String {
        let p = StatsReport.pow10(digits)
        var s = String((x * p).rounded() / p)
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
