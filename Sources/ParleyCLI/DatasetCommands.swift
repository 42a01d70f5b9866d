import ArgumentParser
import FoundationEssentials
import Parley

extension DatasetShape: ExpressibleByArgument {}

/// An input shape on the command line: one of the shapes, or `auto` (detected per file).
enum InputShape: String, ExpressibleByArgument, CaseIterable {
    case auto, sharegpt, messages, ultrachat, baize
    var shape: DatasetShape? { DatasetShape(rawValue: rawValue) }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Corpus statistics of one or more datasets, side by side (Markdown, JSON, HTML).",
        discussion: """
            Model-based figures (optional) run over a deterministic sample of --model-sample dialogues: \
            exact token counts (--tokenize-url: llama.cpp's /tokenize, or vLLM's with --tokenize-model), \
            embedding topic similarity and shifts (--embeddings-url: an OpenAI-compatible /v1), and a judge's \
            context dependence and human-likeness (--judge-url: an OpenAI-compatible /v1, at temperature 0).
            """)
    @Argument(help: "Dataset files: JSONL or a JSON array, in the sharegpt, messages, ultrachat or baize shape.")
    var files: [String]
    @Option(help: "The input shape (auto: detected per file).") var shape: InputShape = .auto
    @Option(name: .customLong("name"), help: "Display names, in the order of the files (repeatable).") var names:
        [String] = []
    @Flag(help: "Print JSON instead of the Markdown table.") var json = false
    @Option(help: "Also write stats.json, stats.md and stats.html into this directory.") var out: String?
    @Option(help: "Questions sampled for Self-ROUGE and their embeddings (and dialogues, for the model sample).")
    var sample = 1000
    @Flag(
        help: """
            Measures of the simulator's questions (Self-ROUGE, MTLD per question, question topic similarity) \
            take the user turns seeds gave too (by default only those a model wrote).
            """)
    var includeSeeds = false
    @Flag(help: "No progress output.") var quiet = false
    @OptionGroup var models: ModelOptions

    func run() async throws {
        guard sample >= 2 else { throw CLIError.exit("--sample must be at least 2") }
        let measures = models.measures()
        let progress = quiet ? nil : LineProgress()
        var summaries: [DatasetSummary] = []
        for (i, path) in files.enumerated() {
            let name = i < names.count ? names[i] : URL(fileURLWithPath: path).lastPathComponent
            var stats: DatasetStats
            do {
                stats = try DatasetStats.of(
                    path: path, name: name, shape: shape.shape, sampleSize: sample, includeSeeds: includeSeeds
                ) { n in
                    progress?.show("stats: \(name): \(n) rows read")
                }
            } catch {
                progress?.done()
                throw CLIError.exit("\(error)")
            }
            progress?.show("stats: \(name): Self-ROUGE over the sample…")
            var summary = DatasetSummary(&stats)
            if !measures.isEmpty {
                progress?.show("stats: \(name): model measures over \(models.modelSample) dialogues…")
                summary.model = await measures.measure(
                    stats.sampledDialogues(models.modelSample), questions: stats.sampledQuestions())
            }
            summaries.append(summary)
        }
        progress?.done()
        let jsonText = StatsReport.json(summaries, sample: sample, includeSeeds: includeSeeds)
        let markdown = StatsReport.markdown(summaries)
        if let out {
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                try (jsonText + "\n").write(toFile: out + "/stats.json", atomically: true, encoding: .utf8)
                try markdown.write(toFile: out + "/stats.md", atomically: true, encoding: .utf8)
                try HTMLReport.render(summaries).write(toFile: out + "/stats.html", atomically: true, encoding: .utf8)
            } catch { throw CLIError.exit("cannot write the report into \(out): \(error)") }
        }
        print(json ? jsonText : markdown, terminator: json ? "\n" : "")
    }
}

/// Where the model-based statistics come from.
struct ModelOptions: ParsableArguments {
    @Option(help: "Dialogues measured by models (from the Self-ROUGE sample).") var modelSample = 100
    @Option(help: "A /tokenize URL (llama.cpp's, or vLLM's with --tokenize-model) for exact token counts.")
    var tokenizeURL: String?
    @Option(help: "The model name vLLM's /tokenize needs.") var tokenizeModel: String?
    @Option(help: "An OpenAI-compatible base URL (…/v1) serving /embeddings.") var embeddingsURL: String?
    @Option(help: "The embeddings model name.") var embeddingsModel = "default"
    @Option(help: "An OpenAI-compatible base URL (…/v1) for the judge model.") var judgeURL: String?
    @Option(help: "The judge model name.") var judgeModel = "default"
    @Option(help: "The judge's endpoint: chat or completion (rendered with --judge-template).") var judgeEndpoint:
        RoleConfig.Endpoint = .chat
    @Option(help: "The judge's completion template.") var judgeTemplate = "human-assistant"
    @Option(help: "The environment variable holding the API key of these servers.") var apiKeyEnv: String?
    @Flag(help: "Also ask the judge whether each follow-up starts a new topic.") var judgeTopicShifts = false

    func measures() -> ModelMeasures {
        let key = apiKeyEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
        var m = ModelMeasures()
        m.judgeTopicShifts = judgeTopicShifts
        if let url = tokenizeURL {
            m.tokenizer = ServerTokenCounter(
                url: url, style: tokenizeModel.map { .vllm(model: $0) } ?? .llamacpp, apiKey: key, timeout: 30)
        }
        if let url = embeddingsURL {
            m.embeddings = EmbeddingsClient(baseURL: url, model: embeddingsModel, apiKey: key)
        }
        if let url = judgeURL {
            var backend = OpenAIConfig()
            backend.baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
            backend.model = judgeModel
            backend.apiKeyEnv = apiKeyEnv
            var role = RoleConfig(name: "judge")
            role.endpoint = judgeEndpoint
            role.template = judgeTemplate
            role.maxTokens = 8
            role.temperature = 0
            m.judge = Judge(
                endpoint: ModelEndpoint(
                    name: "judge", backend: OpenAIBackend(config: backend), settings: backend.common), role: role)
        }
        return m
    }
}

extension RoleConfig.Endpoint: ExpressibleByArgument {}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a dataset between the sharegpt, messages, ultrachat and baize shapes.")
    @Argument(help: "The input file.") var input: String
    @Option(help: "The output shape.") var to: DatasetShape
    @Option(help: "The input shape (auto: detected).") var from: InputShape = .auto
    @Option(help: "Output file (default: stdout).") var out: String?

    func run() throws {
        var droppedSystem = 0
        let written = try DatasetFiles.rewrite(input, shape: from.shape, into: out) { row in
            if to == .ultrachat || to == .baize { droppedSystem += row.messages.filter { $0.speaker == .system }.count }
            return [to.row(id: row.id, messages: row.messages)]
        }
        if droppedSystem > 0 {
            Output.stderr.write(
                "parley: \(droppedSystem) system messages left out (the \(to.rawValue) shape has none)\n")
        }
        Output.stderr.write(
            "parley: \(written.rows) dialogues converted to "
                + "\(to.rawValue)\(written.skipped > 0 ? ", \(written.skipped) rows skipped" : "")\n"
        )
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a dataset as training data for an asker (a user simulator).",
        discussion: """
            --format asker-sft writes DIR/asker_swapped.jsonl (ShareGPT, roles swapped: an assistant-only SFT \
            trainer learns the user) and DIR/asker_messages.jsonl (messages with "training": true on the user turns).
            """)
    @Argument(help: "The input dataset.") var input: String
    @Option(help: "Export format.") var format: String = "asker-sft"
    @Option(help: "Output directory.") var out: String
    @Option(help: "The input shape (auto: detected).") var from: InputShape = .auto
    @Option(help: "System prompt of the swapped rows.") var system = AskerExport.defaultSystem
    @Option(help: "The opening human message of the swapped rows.") var opening = AskerExport.defaultOpening

    func run() throws {
        guard format == "asker-sft" else { throw CLIError.exit("unknown --format \(format); known: asker-sft") }
        do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw CLIError.exit("cannot create \(out): \(error)")
        }
        let masked = try DatasetFiles.rewrite(input, shape: from.shape, into: out + "/asker_messages.jsonl") { row in
            [AskerExport.maskedRow(id: row.id, messages: row.messages)]
        }
        let swapped = try DatasetFiles.rewrite(input, shape: from.shape, into: out + "/asker_swapped.jsonl") { row in
            let messages = AskerExport.swapped(row.messages, system: system, opening: opening)
            return messages.isEmpty ? [] : [DatasetShape.sharegpt.row(id: row.id, messages: messages)]
        }
        Output.stderr.write(
            "parley: \(swapped.rows) swapped and \(masked.rows) masked dialogues in \(out)\n")
    }
}

/// Streams a dataset file through a row transform into a file (or stdout).
enum DatasetFiles {
    static func rewrite(
        _ input: String, shape: DatasetShape?, into path: String?,
        _ transform: (DatasetRow) -> [[UInt8]]
    ) throws -> (rows: Int, skipped: Int) {
        let reader: DatasetReader
        do { reader = try DatasetReader(path: input, shape: shape) } catch { throw CLIError.exit("\(error)") }
        let output: Output
        if let path {
            guard let file = Output.create(path) else { throw CLIError.exit("cannot write \(path)") }
            output = file
        } else {
            output = .stdout
        }
        var rows = 0
        var buffer: [UInt8] = []
        while let row = reader.next() {
            for line in transform(row) {
                buffer += line
                rows += 1
            }
            if buffer.count > 1 << 20 {
                try CLIError.report { try output.write(buffer) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try CLIError.report { try output.write(buffer) }
        if path != nil { output.close() }
        if reader.shape == nil && reader.rowsRead > 0 {
            throw CLIError.exit("\(input): no row is a dialogue in a known shape")
        }
        return (rows, reader.skipped)
    }
}
