import Foundation

/// Streams a seeds file (JSONL) so a run's memory does not grow with the number of seeds.
/// Blank lines are skipped; a broken line becomes an error for that line only.
final class SeedSource {
    private let reader: LineReader
    private let limit: Int?
    private var produced = 0

    init(path: String, limit: Int?) throws {
        reader = try LineReader(path: path)
        self.limit = limit
    }

    func next() -> Result<Seed, SeedError>? {
        if let limit, produced >= limit { return nil }
        while let (text, _) = reader.next() {
            if text.allSatisfy(\.isWhitespace) { continue }
            produced += 1
            do { return .success(try Seed.parse(line: text, number: reader.lineNumber)) }
            catch { return .failure(error) }
        }
        return nil
    }

    /// Non-blank lines, for progress (a cheap pass that does not parse JSON).
    static func count(path: String, limit: Int?) throws -> Int {
        let reader = try LineReader(path: path)
        var n = 0
        while let (text, _) = reader.next() {
            if let limit, n >= limit { break }
            if !text.allSatisfy(\.isWhitespace) { n += 1 }
        }
        return n
    }
}
