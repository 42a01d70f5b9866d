import ArgumentParser
import FoundationEssentials
import Parley

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge the run directories of a config's shards (--shard K/N) into one run directory.",
        discussion: """
            Every file's rows are put in seed-line order, so the merged run equals a run of every seed on \
            one machine (with run.concurrency 1) line for line; summary.json adds up the shards' counts, \
            Self-talk's selection and the evaluation report are made again over all the rows. Refused, with \
            the reason, when a directory was made with another config, or a shard is missing, repeated or \
            unfinished.
            """)
    @Argument(help: "The shards' run directories.") var dirs: [String]
    @Option(help: "The directory to merge into (an earlier merge there is replaced).") var out: String

    func run() throws {
        let summary: RunSummary
        do { summary = try RunMerge.merge(dirs, into: out) } catch { throw CLIError.exit("\(error)") }
        print(summary.json)
        let s = summary.stats
        Output.stderr.write(
            "parley: \(dirs.count) shards merged into \(out): \(s.finished) dialogues "
                + "(\(s.turns) turns), \(s.filtered) filtered, \(s.failed) failed\n")
    }
}
