/// Entry points for the libFuzzer harnesses of `Tests/fuzz` (`@_spi(Fuzzing) import Parley`):
/// the internal readers a run uses, driven directly. Not part of the API.
@_spi(Fuzzing) public enum Fuzzing {
    /// Reads a seeds file as a run does: the seeds it yields and the lines it refuses.
    public static func readSeeds(path: String) throws -> (seeds: Int, invalid: Int) {
        let source = try SeedSource(.file(path), limit: nil)
        var counts = (seeds: 0, invalid: 0)
        while let item = source.next() {
            switch item {
            case .success: counts.seeds += 1
            case .failure: counts.invalid += 1
            }
        }
        return counts
    }

    /// Replays a journal as a resume does: the ids of the dialogues it says ended, and the
    /// complete bytes it keeps; or the error that stops the resume.
    public static func replayJournal(path: String) -> Result<(ended: Set<String>, validBytes: Int), RunError> {
        do {
            let replay = try JournalReplay.read(path: path, corpusKeys: true)
            return .success((replay.ended, replay.validBytes))
        } catch let error as RunError {
            return .failure(error)
        } catch {
            return .failure(.io("\(error)"))
        }
    }
}
