import ArgumentParser
import FoundationEssentials
import Parley

struct View: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one self-contained HTML page to read a run directory's dialogues.",
        discussion: """
            The page (no network, no external file) shows the kept, filtered and failed dialogues as chat \
            transcripts, with each message's model, tokens, latency, finish reason and attempts; judgments per \
            turn (eval), chosen and rejected side by side (capo), workflow steps and nodes reached (selftalk). \
            Filter by verdict, end reason, filter, failure reason and persona, search the text, 50 dialogues \
            per page; the filters live in the URL's #fragment.
            """)
    @Argument(help: "The run directory.") var dir: String
    @Option(help: "The HTML file to write (default: DIR/view.html).") var out: String?

    func run() throws {
        let output = out ?? dir + "/view.html"
        let contents: RunViewer.Contents
        do { contents = try RunViewer.write(runDirectory: dir, to: output) } catch { throw CLIError.exit("\(error)") }
        let rows = contents.rows.values.reduce(0, +)
        let skipped = contents.skipped > 0 ? " (\(contents.skipped) unreadable lines left out)" : ""
        print(output)
        Output.stderr.write("parley: \(rows) rows in \(output)\(skipped)\n")
    }
}
