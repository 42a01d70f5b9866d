import Foundation

/// The files of one run. `run.json` ties the directory to a config fingerprint:
/// resuming under a different config is refused unless the run starts fresh.
/// `run.lock` keeps a second run out while this one holds the directory.
struct RunDirectory {
    let path: String
    let lock: RunLock
    var journalPath: String { path + "/journal.jsonl" }
    var summaryPath: String { path + "/summary.json" }
    var markerPath: String { path + "/run.json" }

    /// Takes the directory's lock (creating the directory) and checks it (`lock`, if the caller already
    /// holds it). `fresh` deletes a previous run's files first, once the lock is held.
    static func open(_ path: String, config: Config, fresh: Bool, lock: RunLock? = nil) throws -> RunDirectory {
        let fm = FileManager.default
        let dir = RunDirectory(path: path, lock: try lock ?? RunLock(directory: path))
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
