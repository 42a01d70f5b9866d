import ArgumentParser
import FoundationEssentials
import Parley

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Multi-turn evaluation: a candidate answers sessions turn by turn and a judge scores every turn.",
        subcommands: [EvalRun.self, EvalReportCommand.self], defaultSubcommand: EvalRun.self)
}

struct EvalRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Answer and judge a question set (--config), or judge existing answers (--answers); resumable.",
        discussion: """
            The config's recipe is "eval" (set for you): roles candidate and judge, the question set as seeds. \
            --answers FILE judges one file of answered sessions (single mode); --answers A B compares two \
            (pairwise, sessions matched by id). The report (report.json, report.md, report.html) is written \
            into the run directory.
            """)
    @OptionGroup var options: ConfigOptions
    @OptionGroup var metrics: MetricsOption
    @Option(help: "The question set (JSONL); overrides the config's \"seeds\".") var questions: String?
    @Option(
        parsing: .upToNextOption, help: "Answered sessions to judge, without generating: one file, or two to compare.")
    var answers: [String] = []
    @Option(help: "Run directory; overrides the config's output.dir.") var out: String?
    @Flag(help: "Discard an existing run in the output directory and start over.") var fresh = false
    @Flag(help: "No progress output.") var quiet = false

    func run() async throws {
        guard answers.count <= 2 else { throw CLIError.exit("--answers takes one file (single) or two (pairwise)") }
        var defaults: [String: JSONValue] = ["recipe": .string("eval")]
        if answers.count == 2 { defaults["eval.mode"] = .string("pairwise") }
        var config = try CLIError.report { try options.load(defaults: defaults) }
        if let out { config.output.dir = out }
        metrics.apply(to: &config)
        let seeds: SeedInput
        switch answers.count {
        case 0:
            guard let path = questions ?? config.seeds else {
                throw CLIError.exit("no questions: give --questions FILE or \"seeds\" in the config")
            }
            guard FileManager.default.isReadableFile(atPath: path) else { throw CLIError.exit("cannot read \(path)") }
            seeds = .file(path)
        case 1:
            guard FileManager.default.isReadableFile(atPath: answers[0]) else {
                throw CLIError.exit("cannot read \(answers[0])")
            }
            seeds = .file(answers[0])
        default:
            seeds = .lines(try Self.pairs(answers[0], answers[1]))
        }
        let summary = try await RunCommand.execute(
            config, seeds: seeds, configPath: options.config, fresh: fresh, quiet: quiet)
        let report: EvalReport
        do { report = try EvalReport.load(runs: [config.output.dir]) } catch { throw CLIError.exit("\(error)") }
        try EvalReportCommand.write(report, into: config.output.dir)
        let s = summary.stats
        Output.stderr.write(
            "\n" + report.markdown + "\nparley: \(s.finished) sessions evaluated, \(s.judgedTurns) turns judged, "
                + "\(s.unscoredTurns) unscored, \(s.failed) failed; report in \(config.output.dir)/report.html\n")
        if s.failed > 0 && s.finished == 0 {
            throw CLIError.exit("every session failed; see \(config.output.dir)/failures.jsonl")
        }
    }

    /// Sessions of two answer files matched by id: `{"id", "category", "reference", "a": row, "b": row}`.
    static func pairs(_ a: String, _ b: String) throws -> [String] {
        func rows(_ path: String) throws -> [(String, [String: JSONValue])] {
            let reader: DatasetReader
            do { reader = try DatasetReader(path: path) } catch { throw CLIError.exit("\(error)") }
            var out: [(String, [String: JSONValue])] = []
            while let row = reader.nextObject() {
                switch row["id"] ?? row["question_id"] {
                case .string(let id)?: out.append((id, row))
                case .number(let n)? where n == n.rounded(): out.append((String(Int(n)), row))
                default: continue
                }
            }
            return out
        }
        let second = Dictionary(try rows(b).map { ($0.0, $0.1) }, uniquingKeysWith: { first, _ in first })
        var lines: [String] = []
        var unmatched = 0
        for (id, rowA) in try rows(a) {
            guard let rowB = second[id] else {
                unmatched += 1
                continue
            }
            let meta = rowA["meta"]?.objectValue ?? [:]
            var session: [String: JSONValue] = ["id": .string(id), "a": .object(rowA), "b": .object(rowB)]
            session["category"] = rowA["category"] ?? meta["category"]
            session["reference"] = rowA["reference"] ?? meta["reference"]
            lines.append(JSONValue.object(session).canonicalText)
        }
        if unmatched > 0 {
            Output.stderr.write(
                "parley: \(unmatched) sessions of \(a) have no match in \(b) and are left out\n")
        }
        guard !lines.isEmpty else { throw CLIError.exit("\(a) and \(b) have no session id in common") }
        return lines
    }
}

struct EvalReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Compare evaluation runs: scores per turn, per category and overall, or pairwise verdicts.")
    @Argument(help: "Evaluation run directories.") var runs: [String]
    @Flag(help: "Print JSON instead of Markdown.") var json = false
    @Option(help: "Also write report.json, report.md and report.html into this directory.") var out: String?

    func run() throws {
        let report: EvalReport
        do { report = try EvalReport.load(runs: runs) } catch { throw CLIError.exit("\(error)") }
        if let out { try Self.write(report, into: out) }
        print(json ? report.json : report.markdown, terminator: json ? "\n" : "")
    }

    static func write(_ report: EvalReport, into dir: String) throws {
        do { try report.write(into: dir) } catch {
            throw CLIError.exit("cannot write the report into \(dir): \(error)")
        }
    }
}
