import FoundationEssentials

/// The finished figures of one dataset, as every report format shows them.
public struct DatasetSummary: Sendable {
    public struct Spread: Sendable {
        public var mean, median, p90: Double
        init(mean: Double, median: Double, p90: Double) {
            self.mean = mean
            self.median = median
            self.p90 = p90
        }
        init(_ h: Histogram) { self.init(mean: h.mean, median: h.median, p90: h.percentile(0.9)) }
    }

    public var name: String
    public var path: String
    public var shape: String
    public var dialogues: Int
    public var skipped: Int
    public var turns: Spread
    public var turnHistogram: [Int: Int]
    public var userWords: Spread, assistantWords: Spread, dialogueWords: Spread
    /// Words-per-turn counts in `lengthBins`.
    public var userLengthBins: [Int], assistantLengthBins: [Int]
    /// MTLD per dialogue (PyPI `lexical-diversity`) and per question (PlatoLM's, `lexicalrichness`).
    public var mtld: Double?
    public var questionMTLD: Double?, questionMTLDCount: Int
    public var distinct1: Double, distinct2: Double
    public var selfRouge: PairwiseROUGE
    /// Self-talk's: mean pairwise ROUGE-L between whole dialogues, distinct-n over whole dialogues.
    public var dialogueROUGE: PairwiseROUGE
    public var dialogueDistinct1: Double, dialogueDistinct2: Double
    public var contextDependentPerDialogue: Double, contextDependentShare: Double
    public var topicShiftsPerDialogue: Double
    /// The model-based figures over the sample, when models were given.
    public var model: ModelMeasures.Figures?

    public static let lengthBins = [0, 5, 10, 20, 50, 100, 200, 500]

    public static func binLabel(_ i: Int) -> String {
        i + 1 < lengthBins.count ? "\(lengthBins[i])-\(lengthBins[i + 1] - 1)" : "\(lengthBins[i])+"
    }

    public init(_ s: inout DatasetStats) {
        func spread(_ h: Histogram) -> Spread { Spread(h) }
        let count = s.dialogues
        func perDialogue(_ n: Int) -> Double { count == 0 ? 0 : Double(n) / Double(count) }
        name = s.name
        path = s.path
        shape = s.shape?.rawValue ?? "unknown"
        dialogues = s.dialogues
        skipped = s.skipped
        turns = spread(s.turns)
        turnHistogram = s.turns.counts
        userWords = spread(s.userWords)
        assistantWords = spread(s.assistantWords)
        dialogueWords = spread(s.dialogueWords)
        userLengthBins = s.userWords.binned(Self.lengthBins)
        assistantLengthBins = s.assistantWords.binned(Self.lengthBins)
        mtld = s.mtld
        questionMTLD = s.questionMTLD
        questionMTLDCount = s.questionMTLDCount
        distinct1 = s.userNGrams.distinct1
        distinct2 = s.userNGrams.distinct2
        selfRouge = s.selfRouge()
        dialogueROUGE = s.dialogueROUGE()
        dialogueDistinct1 = s.dialogueNGrams.distinct1
        dialogueDistinct2 = s.dialogueNGrams.distinct2
        contextDependentPerDialogue = perDialogue(s.contextDependent)
        contextDependentShare = s.followUps == 0 ? 0 : Double(s.contextDependent) / Double(s.followUps)
        topicShiftsPerDialogue = perDialogue(s.topicShifts)
    }
}

/// `parley stats` output: JSON for machines, a Markdown table for terminals and READMEs.
public enum StatsReport {
    public static func json(_ sets: [DatasetSummary], sample: Int, includeSeeds: Bool = false) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("datasets")
        w.beginArray()
        for d in sets {
            w.beginObject()
            w.field("name", d.name)
            w.field("path", d.path)
            w.field("shape", d.shape)
            w.field("dialogues", d.dialogues)
            w.field("skipped", d.skipped)
            w.key("turns")
            spread(d.turns, into: &w) {
                $0.key("histogram")
                $0.beginObject()
                for k in d.turnHistogram.keys.sorted() {
                    $0.key(String(k))
                    $0.int(d.turnHistogram[k]!)
                }
                $0.endObject()
            }
            w.key("words")
            w.beginObject()
            w.key("user_turn")
            spread(d.userWords, into: &w) { bins(d.userLengthBins, into: &$0) }
            w.key("assistant_turn")
            spread(d.assistantWords, into: &w) { bins(d.assistantLengthBins, into: &$0) }
            w.key("dialogue")
            spread(d.dialogueWords, into: &w) { _ in }
            w.endObject()
            w.key("mtld")
            optional(d.mtld, into: &w)
            w.key("distinct_1")
            w.double(d.distinct1)
            w.key("distinct_2")
            w.double(d.distinct2)
            w.key("mtld_per_question")
            w.beginObject()
            w.key("mean")
            optional(d.questionMTLD, into: &w)
            w.field("questions", d.questionMTLDCount)
            w.endObject()
            w.key("self_rouge")
            w.beginObject()
            w.key("mean")
            optional(d.selfRouge.mean, into: &w)
            w.field("questions", d.selfRouge.items)
            w.field("pairs", d.selfRouge.pairs)
            w.endObject()
            w.key("dialogue_diversity")
            w.beginObject()
            w.key("rouge_l")
            optional(d.dialogueROUGE.mean.map { 1 - $0 }, into: &w)
            w.field("dialogues", d.dialogueROUGE.items)
            w.field("pairs", d.dialogueROUGE.pairs)
            w.key("distinct_1")
            w.double(d.dialogueDistinct1)
            w.key("distinct_2")
            w.double(d.dialogueDistinct2)
            w.endObject()
            w.key("context_dependent")
            w.beginObject()
            w.key("per_dialogue")
            w.double(d.contextDependentPerDialogue)
            w.key("share")
            w.double(d.contextDependentShare)
            w.endObject()
            w.key("topic_shifts")
            w.beginObject()
            w.key("per_dialogue")
            w.double(d.topicShiftsPerDialogue)
            w.endObject()
            w.key("model")
            if let m = d.model { modelJSON(m, into: &w) } else { w.null() }
            w.endObject()
        }
        w.endArray()
        w.key("settings")
        w.beginObject()
        w.field("sample", sample)
        w.key("threshold_mtld")
        w.double(0.72)
        w.field("tokens", "words: runs of Unicode letters and digits, lower-cased, inner apostrophes kept")
        w.key("include_seeds")
        w.bool(includeSeeds)
        w.field(
            "questions",
            includeSeeds
                ? "every user turn, seeds' included" : "the user turns a model wrote (not those a seed gave)")
        w.field(
            "mtld",
            "PyPI lexical-diversity's, per dialogue over its user turns, averaged over dialogues where it is defined")
        w.field(
            "mtld_per_question",
            "PlatoLM's: PyPI lexicalrichness's MTLD of each question (its own tokens), averaged over questions")
        w.field(
            "self_rouge", "Parrot's: mean pairwise ROUGE-L F1 between the questions of a deterministic sample of them")
        w.field(
            "dialogue_diversity",
            "Self-talk's: 1 - mean pairwise ROUGE-L F1 between whole dialogues of the dialogue sample (at most "
                + "\(DatasetStats.diversitySample)); distinct-n over every message of every dialogue")
        w.endObject()
        w.endObject()
        return w.text
    }

    private static func modelJSON(_ m: ModelMeasures.Figures, into w: inout JSONWriter) {
        func perDialogue(_ n: Int) -> Double { m.dialogues == 0 ? 0 : Double(n) / Double(m.dialogues) }
        func tally(_ t: ModelMeasures.Tally, perDialogue count: Bool) {
            w.beginObject()
            if count {
                w.key("per_dialogue")
                w.double(perDialogue(t.yes))
            }
            w.key("share")
            optional(t.share, into: &w)
            w.field("judged", t.judged)
            w.field("unparsed", t.unparsed)
            w.endObject()
        }
        w.beginObject()
        w.field("dialogues", m.dialogues)
        w.key("tokens")
        if m.measured.contains("tokens") {
            w.beginObject()
            w.key("user_turn")
            spread(.init(m.userTokens), into: &w) { _ in }
            w.key("assistant_turn")
            spread(.init(m.assistantTokens), into: &w) { _ in }
            w.key("dialogue")
            spread(.init(m.dialogueTokens), into: &w) { _ in }
            w.endObject()
        } else {
            w.null()
        }
        w.key("topic_similarity")
        optional(m.topicSimilarity, into: &w)
        w.key("topic_similarity_questions")
        if m.measured.contains("embeddings") {
            w.beginObject()
            w.key("mean")
            optional(m.questionSimilarity, into: &w)
            w.field("questions", m.questions)
            w.endObject()
        } else {
            w.null()
        }
        w.key("topic_shifts")
        if m.measured.contains("embeddings") {
            w.beginObject()
            w.key("per_dialogue")
            w.double(perDialogue(m.embeddingShifts))
            w.endObject()
        } else {
            w.null()
        }
        w.key("context_dependent")
        if m.measured.contains("judge") { tally(m.contextDependent, perDialogue: true) } else { w.null() }
        w.key("human_like")
        if m.measured.contains("judge") { tally(m.humanLike, perDialogue: false) } else { w.null() }
        w.key("topic_shifts_judged")
        if m.measured.contains("topic_judge") { tally(m.topicShifts, perDialogue: true) } else { w.null() }
        w.key("failures")
        w.value(.object(m.failures.mapValues { .number(Double($0)) }))
        w.field("first_failure", m.firstFailure)
        w.endObject()
    }

    private static func spread(_ s: DatasetSummary.Spread, into w: inout JSONWriter, extra: (inout JSONWriter) -> Void)
    {
        w.beginObject()
        w.key("mean")
        w.double(s.mean)
        w.key("median")
        w.double(s.median)
        w.key("p90")
        w.double(s.p90)
        extra(&w)
        w.endObject()
    }

    private static func bins(_ counts: [Int], into w: inout JSONWriter) {
        w.key("histogram")
        w.beginObject()
        for (i, c) in counts.enumerated() {
            w.key(DatasetSummary.binLabel(i))
            w.int(c)
        }
        w.endObject()
    }

    private static func optional(_ x: Double?, into w: inout JSONWriter) { if let x { w.double(x) } else { w.null() } }

    /// The rows of the comparison table: a label and one cell per dataset.
    public static func rows(_ sets: [DatasetSummary]) -> [(String, [String])] {
        func f(_ x: Double?, _ digits: Int = 2) -> String {
            guard let x else { return "–" }
            var s = String((x * pow10(digits)).rounded() / pow10(digits))
            if s.hasSuffix(".0") { s.removeLast(2) }
            return s
        }
        func spread(_ s: DatasetSummary.Spread) -> String { "\(f(s.mean, 1)) / \(f(s.median, 1)) / \(f(s.p90, 1))" }
        return [
            ("shape", sets.map(\.shape)),
            ("dialogues", sets.map { "\($0.dialogues)" + ($0.skipped > 0 ? " (\($0.skipped) skipped)" : "") }),
            ("turns per dialogue (mean / median / p90)", sets.map { spread($0.turns) }),
            ("words per user turn", sets.map { spread($0.userWords) }),
            ("words per assistant turn", sets.map { spread($0.assistantWords) }),
            ("words per dialogue", sets.map { spread($0.dialogueWords) }),
            ("MTLD of user turns (lexical-diversity, per dialogue)", sets.map { f($0.mtld, 1) }),
            ("MTLD per question (PlatoLM, lexicalrichness)", sets.map { f($0.questionMTLD, 1) }),
            ("distinct-1 / distinct-2 (user)", sets.map { "\(f($0.distinct1, 3)) / \(f($0.distinct2, 3))" }),
            ("Self-ROUGE-L (lower: less repetitive)", sets.map { f($0.selfRouge.mean.map { $0 * 100 }, 1) }),
            ("dialogue diversity (Self-talk: 1 - ROUGE-L)", sets.map { f($0.dialogueROUGE.mean.map { 1 - $0 }, 3) }),
            (
                "distinct-1 / distinct-2 (whole dialogues)",
                sets.map { "\(f($0.dialogueDistinct1, 3)) / \(f($0.dialogueDistinct2, 3))" }
            ),
            ("context-dependent user turns per dialogue", sets.map { f($0.contextDependentPerDialogue) }),
            ("share of follow-ups context-dependent", sets.map { f($0.contextDependentShare * 100, 1) + "%" }),
            ("topic shifts per dialogue", sets.map { f($0.topicShiftsPerDialogue) }),
        ] + modelRows(sets)
    }

    /// Rows for the model-based figures, where any dataset has them (over its model sample).
    static func modelRows(_ sets: [DatasetSummary]) -> [(String, [String])] {
        let measured = sets.reduce(into: Set<String>()) { $0.formUnion($1.model?.measured ?? []) }
        guard !measured.isEmpty else { return [] }
        func cell(_ s: DatasetSummary, _ need: String, _ text: (ModelMeasures.Figures) -> String) -> String {
            guard let m = s.model, m.measured.contains(need) else { return "–" }
            return text(m)
        }
        func f(_ x: Double?) -> String { x.map { HTMLReport.f($0, digits: 2) } ?? "–" }
        func tally(_ t: ModelMeasures.Tally) -> String {
            (t.share.map { HTMLReport.f($0 * 100, digits: 1) + "%" } ?? "–")
                + " (\(t.judged) judged, \(t.unparsed) unparsed)"
        }
        var rows: [(String, [String])] = [
            ("model sample (dialogues)", sets.map { s in s.model.map { "\($0.dialogues)" } ?? "–" })
        ]
        if measured.contains("tokens") {
            rows.append(
                ("model tokens per user turn", sets.map { s in cell(s, "tokens") { spreadText(.init($0.userTokens)) } })
            )
            rows.append(
                (
                    "model tokens per assistant turn",
                    sets.map { s in cell(s, "tokens") { spreadText(.init($0.assistantTokens)) } }
                ))
            rows.append(
                (
                    "model tokens per dialogue",
                    sets.map { s in cell(s, "tokens") { spreadText(.init($0.dialogueTokens)) } }
                ))
        }
        if measured.contains("embeddings") {
            rows.append(
                (
                    "topic similarity, embeddings (lower: more diverse)",
                    sets.map { s in cell(s, "embeddings") { f($0.topicSimilarity) } }
                ))
            rows.append(
                (
                    "topic similarity of questions (PlatoLM)",
                    sets.map { s in cell(s, "embeddings") { f($0.questionSimilarity) } }
                ))
            rows.append(
                (
                    "topic shifts per dialogue, embeddings",
                    sets.map { s in
                        cell(s, "embeddings") {
                            f($0.dialogues == 0 ? nil : Double($0.embeddingShifts) / Double($0.dialogues))
                        }
                    }
                ))
        }
        if measured.contains("judge") {
            rows.append(
                (
                    "judged context-dependent follow-ups",
                    sets.map { s in cell(s, "judge") { tally($0.contextDependent) } }
                ))
            rows.append(("judged human-like user turns", sets.map { s in cell(s, "judge") { tally($0.humanLike) } }))
        }
        if measured.contains("topic_judge") {
            rows.append(
                ("judged topic shifts", sets.map { s in cell(s, "topic_judge") { tally($0.topicShifts) } }))
        }
        if sets.contains(where: { !($0.model?.failures.isEmpty ?? true) }) {
            rows.append(
                (
                    "model requests failed",
                    sets.map { s in
                        s.model.map { m in
                            m.failures.isEmpty
                                ? "0"
                                : m.failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
                                    separator: ", ")
                        } ?? "–"
                    }
                ))
        }
        return rows
    }

    static func spreadText(_ s: DatasetSummary.Spread) -> String {
        "\(HTMLReport.f(s.mean, digits: 1)) / \(HTMLReport.f(s.median, digits: 1)) / \(HTMLReport.f(s.p90, digits: 1))"
    }

    public static func markdown(_ sets: [DatasetSummary]) -> String {
        func cell(_ s: String) -> String { s.replacing("|", with: "\\|") }
        var out = "| | " + sets.map { cell($0.name) }.joined(separator: " | ") + " |\n"
        out += "|---|" + String(repeating: "---:|", count: sets.count) + "\n"
        for (label, cells) in rows(sets) { out += "| \(label) | " + cells.map(cell).joined(separator: " | ") + " |\n" }
        return out
    }

    static func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { a, _ in a * 10 } }
}
