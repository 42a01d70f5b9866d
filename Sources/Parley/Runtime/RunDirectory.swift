import FoundationEssentials

/// The files of one run. `run.json` ties the directory to a config fingerprint and a shard:
/// resuming under a different config or another shard is refused unless the run starts fresh.
/// `run.lock` keeps a second run out while this one holds the directory.
struct RunDirectory {
    let path: String
    let lock: RunLock
    var journalPath: String { path + "/journal.jsonl" }
    var summaryPath: String { path + "/summary.json" }
    var markerPath: String { path + "/run.json" }
    /// The last scrape of the live metrics (`run.metrics`), written at the end.
    var metricsPath: String { path + "/metrics.prom" }

    /// Takes the directory's lock (creating the directory) and checks it (`lock`, if the caller already
    /// holds it). `fresh` deletes a previous run's files first, once the lock is held.
    static func open(_ path: String, config: Config, shard: Shard?, fresh: Bool, lock: RunLock? = nil) throws
        -> RunDirectory
    {
        let fm = FileManager.default
        let dir = RunDirectory(path: path, lock: try lock ?? RunLock(directory: path))
        if let marker = Marker.read(dir.markerPath), marker.mergedFrom != nil {
            throw RunError.configMismatch("\(path) holds shards merged by `parley merge`; a run cannot write into it")
        }
        let owned =
            [dir.journalPath, dir.summaryPath, dir.markerPath, dir.metricsPath]
            + DatasetWriter.allFiles.map { path + "/" + $0 }
        if fresh {
            for f in owned where fm.fileExists(atPath: f) { try? fm.removeItem(atPath: f) }
        }
        if fm.fileExists(atPath: dir.markerPath) {
            guard let marker = Marker.read(dir.markerPath), marker.fingerprint == config.fingerprint else {
                throw RunError.configMismatch(
                    "\(path) holds a run made with a different config; "
                        + "use another output directory, or --fresh to discard it")
            }
            guard marker.shard == shard?.description else {
                let held = marker.shard.map { "shard \($0)" } ?? "a run of every seed"
                let wanted = shard.map { "shard \($0)" } ?? "every seed"
                throw RunError.configMismatch(
                    "\(path) holds \(held); this run is \(wanted): "
                        + "use another output directory, or --fresh to discard it")
            }
        } else if fm.fileExists(atPath: dir.journalPath) {
            throw RunError.configMismatch("\(path) has a journal but no run.json; use --fresh to discard it")
        } else {
            var w = JSONWriter()
            w.beginObject()
            w.field("fingerprint", config.fingerprint)
            w.field("recipe", config.recipe)
            w.field("parley", ParleyVersion.string)
            if let shard { w.field("shard", shard.description) }
            w.key("config")
            w.value(config.json)
            w.endObject()
            guard fm.createFile(atPath: dir.markerPath, contents: Data((w.text + "\n").utf8)) else {
                throw RunError.io("cannot write \(dir.markerPath)")
            }
        }
        return dir
    }

    /// `run.json`: what made the directory.
    struct Marker: Decodable {
        var fingerprint: String
        var recipe: String?
        var shard: String?
        /// Set in a directory `parley merge` wrote: the shard directories it merged.
        var mergedFrom: [String]?

        enum CodingKeys: String, CodingKey {
            case fingerprint, recipe, shard
            case mergedFrom = "merged_from"
        }

        static func read(_ path: String) -> Marker? {
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            return try? JSONDecoder().decode(Marker.self, from: data)
        }
    }
}
