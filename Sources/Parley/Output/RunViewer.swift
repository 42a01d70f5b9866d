import FoundationEssentials

/// `parley view DIR`: one self-contained HTML page (no network, no external file) showing a run
/// directory's dialogues as chat transcripts — kept, filtered and failed — with filters, search and
/// paging (`RunViewerPage`). The rows are embedded as they are in the run's files; the page's script
/// reads them, so the viewer follows the row formats of docs/formats.md without a second schema here.
public enum RunViewer {
    /// What a page holds.
    public struct Contents: Sendable, Equatable {
        /// Rows embedded, by file name.
        public var rows: [String: Int] = [:]
        /// Lines left out because they are not JSON objects (a run cut short mid-line, a hand edit).
        public var skipped = 0
    }

    /// The files whose rows the page shows, with the name the page's script knows each by.
    static let sources: [(file: String, key: String)] = [
        (DatasetWriter.dialoguesFile, "dialogues"), (DatasetWriter.filteredFile, "filtered"),
        (DatasetWriter.failuresFile, "failures"), (CaPORecipe.pairsFile, "pairs"),
    ]

    /// Writes the page for the run directory `dir` to `output`.
    /// - Parameters:
    ///   - dir: a run directory (at least its `dialogues.jsonl` or `failures.jsonl`).
    ///   - output: the HTML file to write (replaced).
    /// - Returns: how many rows of each file the page holds.
    @discardableResult
    public static func write(runDirectory dir: String, to output: String) throws -> Contents {
        let files = sources.map { dir + "/" + $0.file }
        guard files.contains(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw RunError.io("\(dir) is not a run directory: it has no \(DatasetWriter.dialoguesFile)")
        }
        var contents = Contents()
        var data = "{\"run\":" + JSONValue.string(URL(fileURLWithPath: dir).standardized.path).canonicalText
        if let summary = FileManager.default.contents(atPath: dir + "/summary.json"),
            let value = try? JSONValue.parse(String(decoding: summary, as: UTF8.self))
        {
            data += ",\"summary\":" + value.canonicalText
        }
        for (source, path) in zip(sources, files) {
            data += ",\"\(source.key)\":["
            var count = 0
            if FileManager.default.fileExists(atPath: path) {
                let reader = try LineReader(path: path)
                while let (line, complete) = reader.next() {
                    guard complete, case .object? = try? JSONValue.parse(line) else {
                        if !line.isEmpty { contents.skipped += 1 }
                        continue
                    }
                    if count > 0 { data += "," }
                    data += line
                    count += 1
                }
            }
            data += "]"
            contents.rows[source.file] = count
        }
        data += ",\"skipped\":\(contents.skipped)}"
        let page = RunViewerPage.html(
            title: "Parley run: " + URL(fileURLWithPath: dir).lastPathComponent,
            data: scriptSafe(data))
        do {
            try Data(page.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw RunError.io("cannot write \(output): \(error)")
        }
        return contents
    }

    /// JSON text that can sit inside `<script>`: every `<` (only ever inside strings in JSON) as
    /// `\u003c`, so no row can close the script element or open a comment.
    static func scriptSafe(_ json: String) -> String {
        json.replacing("<", with: "\\u003c")
    }
}
