/// Where a run's seeds come from: a JSONL file, or JSON lines a host passes in memory.
public enum SeedInput: Sendable {
    case file(String)
    case lines([String])
}

/// Streams seeds so a run's memory does not grow with their number. Blank lines are
/// skipped; a broken line becomes an error for that line only.
final class SeedSource {
    private let nextLine: () -> String?
    private let limit: Int?
    private var produced = 0
    private var lineNumber = 0

    init(_ input: SeedInput, limit: Int?) throws {
        self.limit = limit
        switch input {
        case .file(let path):
            let reader = try LineReader(path: path)
            nextLine = { reader.next()?.text }
        case .lines(let lines):
            var iterator = lines.makeIterator()
            nextLine = { iterator.next() }
        }
    }

    func next() -> Result<Seed, SeedError>? {
        if let limit, produced >= limit { return nil }
        while let text = nextLine() {
            lineNumber += 1
            if text.allSatisfy(\.isWhitespace) { continue }
            produced += 1
            do { return .success(try Seed.parse(line: text, number: lineNumber)) }
            catch { return .failure(error) }
        }
        return nil
    }

    /// Non-blank lines, for progress (a cheap pass that does not parse JSON).
    static func count(_ input: SeedInput, limit: Int?) throws -> Int {
        var n = 0
        let source = try SeedSource(input, limit: nil)
        while let text = source.nextLine() {
            if let limit, n >= limit { break }
            if !text.allSatisfy(\.isWhitespace) { n += 1 }
        }
        return n
    }
}
