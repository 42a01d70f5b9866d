import Foundation

/// The files of one run. `run.json` ties the directory to a config fingerprint:
/// resuming under a different config is refused unless the run starts fresh.
struct RunDirectory {
    let path: String
    var journalPath: String { path + "/journal.jsonl" }
    var summaryPath: String { path + "/summary.json" }
    var markerPath: String { path + "/run.json" }

    /// Creates or checks the directory. `fresh` deletes a previous run's files first.
    static func open(_ path: String, config: Config, fresh: Bool) throws -> RunDirectory {
        let dir = RunDirectory(path: path)
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: path, withIntermediateDirectories: true) }
        catch { throw RunError.io("cannot create \(path): \(error.localizedDescription)") }
        let owned = [dir.journalPath, dir.summaryPath, dir.markerPath] + DatasetWriter.allFiles.map { path + "/" + $0 }
        if fresh {
            for f in owned where fm.fileExists(atPath: f) { try? fm.removeItem(atPath: f) }
        }
        if let data = fm.contents(atPath: dir.markerPath) {
            let marker = try? JSONDecoder().decode(Marker.self, from: data)
            guard let marker, marker.fingerprint == config.fingerprint else {
                throw RunError.configMismatch(
                    "\(path) holds a run made with a different config; use another output directory, or --fresh to discard it")
            }
        } else if fm.fileExists(atPath: dir.journalPath) {
            throw RunError.configMismatch("\(path) has a journal but no run.json; use --fresh to discard it")
        } else {
            var w = JSONWriter()
            w.beginObject(); w.field("fingerprint", config.fingerprint); w.field("recipe", config.recipe)
            w.field("parley", ParleyVersion.string); w.endObject()
            guard fm.createFile(atPath: dir.markerPath, contents: Data((w.text + "\n").utf8)) else {
                throw RunError.io("cannot write \(dir.markerPath)")
            }
        }
        return dir
    }

    private struct Marker: Decodable { var fingerprint: String }
}
