/// Why a run cannot start, go on or be merged; the message names the file or directory.
public enum RunError: Error, Sendable, CustomStringConvertible {
    case io(String)
    case configMismatch(String)
    case corruptJournal(String)
    /// The run directory is held by another run.
    case busy(String)
    /// Shard directories that do not make one whole run (`parley merge`).
    case shards(String)

    public var description: String {
        switch self {
        case .io(let m), .configMismatch(let m), .corruptJournal(let m), .busy(let m), .shards(let m): m
        }
    }
}
