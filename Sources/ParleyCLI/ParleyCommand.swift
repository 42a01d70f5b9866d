import ArgumentParser
import FoundationEssentials
import NIOCore
import NIOPosix
import Parley

@main
struct ParleyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "Synthesise and evaluate multi-turn dialogue data with language models.",
        version: ParleyVersion.string,
        subcommands: [
            Synth.self, Eval.self, Merge.self, Validate.self, Stats.self, View.self, Convert.self, Export.self,
        ])

    /// Runs Swift concurrency on the HTTP client's event loops: a dialogue, its request and the
    /// answer stay on one thread, where the global pool hopped to a loop and back per request
    /// (a third of the CPU per request against a server that answers at once: benchmarks/http).
    /// The command owns its process, so it may take the global executor over; the library leaves
    /// that to its host.
    static func main() async {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await main(nil)
    }
}

struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The run's JSON config file.")
    var config: String

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp(
            "Override a config field, e.g. --set run.concurrency=8 (repeatable).", valueName: "PATH=VALUE"))
    var overrides: [String] = []

    @Option(
        help: ArgumentHelp(
            "Run shard K of N of the seeds (sets run.shard); merge the shards with `parley merge`.",
            valueName: "K/N"))
    var shard: String?

    /// The config with `--set` applied; `defaults` are set first (a command's own, e.g. the recipe).
    func load(defaults: [String: JSONValue] = [:]) throws -> Config {
        guard let data = FileManager.default.contents(atPath: config) else {
            throw CLIError("cannot read config file \(config)")
        }
        do {
            var root = try JSONValue.parse(String(decoding: data, as: UTF8.self))
            for (path, value) in defaults { root = try root.setting(path, to: value) }
            for o in overrides {
                guard let eq = o.firstIndex(of: "=") else { throw CLIError("--set \(o): expected PATH=VALUE") }
                root = try root.setting(String(o[..<eq]), to: .fromArgument(String(o[o.index(after: eq)...])))
            }
            if let shard { root = try root.setting("run.shard", to: .string(shard)) }
            return try Config.parse(root)
        } catch let error as CLIError {
            throw error
        } catch let error as ConfigError {
            let n = error.issues.count
            throw CLIError(
                "\(config): \(n) error\(n == 1 ? "" : "s")\n" + error.issues.map { "  \($0)" }.joined(separator: "\n"))
        } catch {
            throw CLIError("\(config): not valid JSON: \(Config.describe(error))")
        }
    }
}

/// `--metrics-port`, for the commands that run a recipe.
struct MetricsOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Serve live Prometheus metrics at http://127.0.0.1:PORT/metrics while the run goes (sets "
                + "run.metrics.port; 0: any free port).", valueName: "PORT"))
    var metricsPort: Int?

    func validate() throws {
        if let metricsPort, !(0...65535).contains(metricsPort) {
            throw ValidationError("--metrics-port: expected a port in 0…65535, got \(metricsPort)")
        }
    }

    func apply(to config: inout Config) {
        guard let metricsPort else { return }
        var metrics = config.run.metrics ?? MetricsSettings(port: metricsPort)
        metrics.port = metricsPort
        config.run.metrics = metrics
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a config file and report every problem with its path.")
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try CLIError.report { try options.load() }
        print(
            "\(options.config): ok (recipe \(config.recipe), roles "
                + "\(config.roles.keys.sorted().joined(separator: ", ")))"
        )
    }
}

struct Synth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Synthesise dialogues from seeds into a run directory (resumable: run it again to continue).")
    @OptionGroup var options: ConfigOptions
    @OptionGroup var metrics: MetricsOption
    @Option(help: "Seeds file (JSONL); overrides the config's \"seeds\".") var seeds: String?
    @Option(help: "Run directory; overrides the config's output.dir.") var out: String?
    @Flag(help: "Discard an existing run in the output directory and start over.") var fresh = false
    @Flag(help: "No progress output.") var quiet = false

    func run() async throws {
        var config = try CLIError.report { try options.load() }
        if let out { config.output.dir = out }
        if let seeds { config.seeds = seeds }
        metrics.apply(to: &config)
        guard let seedsPath = config.seeds else {
            throw CLIError.exit("no seeds: give --seeds FILE or \"seeds\" in the config")
        }
        guard FileManager.default.isReadableFile(atPath: seedsPath) else {
            throw CLIError.exit("cannot read seeds file \(seedsPath)")
        }
        let summary = try await RunCommand.execute(
            config, seeds: .file(seedsPath), configPath: options.config, fresh: fresh, quiet: quiet)
        let s = summary.stats
        Output.stderr.write(
            "parley: \(s.finished) dialogues (\(s.turns) turns) in \(summary.outputDir)/dialogues.jsonl; \(s.filtered) "
                + "filtered, \(s.failed) failed\n"
        )
        if s.failed > 0 && s.finished == 0 {
            throw CLIError.exit("every dialogue failed; see \(summary.outputDir)/failures.jsonl")
        }
    }
}

/// Runs a config's recipe the way every run command does: Ctrl-C stops cleanly, a
/// progress line on stderr, the summary JSON on stdout; exit 130 when interrupted.
enum RunCommand {
    /// The exit status of a run the budget stopped (resumable with a larger budget).
    static let budgetExitCode: Int32 = 3

    static func execute(_ config: Config, seeds: SeedInput, configPath: String, fresh: Bool, quiet: Bool) async throws
        -> RunSummary
    {
        let engine: Engine
        do { engine = try Engine(config: config) } catch {
            throw CLIError.exit("\(configPath): \(error)")
        }
        let runner = Runner(engine: engine, seeds: seeds, outputDir: config.output.dir) { event in
            if case .metricsServed(let url) = event { Output.stderr.write("parley: metrics at \(url)\n") }
        }
        let work = Task { try await runner.run(fresh: fresh) }
        let signals = SignalTrap { work.cancel() }
        let progress = quiet ? nil : ProgressReporter(runner: runner, interval: config.run.progressSeconds)
        let summary: RunSummary
        do { summary = try await work.value } catch {
            progress?.stop()
            throw CLIError.exit("\(error)")
        }
        progress?.stop()
        withExtendedLifetime(signals) {}
        print(summary.json)
        if summary.interrupted {
            Output.stderr.write(
                "parley: interrupted; run the same command again to resume (\(summary.stats.ended)/\(summary.seeds) "
                    + "done)\n"
            )
            throw ExitCode(130)
        }
        if summary.stopped == "budget" {
            let done = "\(summary.stats.ended)/\(summary.seeds) done"
            Output.stderr.write(
                "parley: the budget is spent (\(done)); "
                    + "raise run.budget and run the same command again to continue\n")
            throw ExitCode(budgetExitCode)
        }
        return summary
    }
}

/// A one-line reason on stderr and a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }

    static func exit(_ message: String) -> ExitCode {
        Output.stderr.write("parley: \(message)\n")
        return ExitCode(1)
    }

    static func report<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as CLIError { throw exit(e.description) }
    }
}
