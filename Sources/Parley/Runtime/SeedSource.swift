/// Where a run's seeds come from: a JSONL file, or JSON lines a host passes in memory.
public enum SeedInput: Sendable {
    case file(String)
    case lines([String])
}

/// Streams seeds so a run's memory does not grow with their number. Blank lines are
/// skipped; a broken line becomes an error for that line only.
final class SeedSource {
    /// The longest seeds line read (no model's context holds more): a longer one is an invalid seed.
    static let maxLineBytes = 16 << 20

    private let nextLine: () -> Result<String, LineReader.Problem>?
    private let limit: Int?
    private var produced = 0
    private var lineNumber = 0

    init(_ input: SeedInput, limit: Int?) throws {
        self.limit = limit
        switch input {
        case .file(let path):
            let reader = try LineReader(path: path)
            nextLine = { reader.nextChecked(limit: Self.maxLineBytes) }

        case .lines(let lines):
            var iterator = lines.makeIterator()
            nextLine = {
                guard let line = iterator.next() else { return nil }
                return line.utf8.count > Self.maxLineBytes ? .failure(.tooLong(bytes: line.utf8.count)) : .success(line)
            }
        }
    }

    /// Seeds from an open reader (the fuzz harnesses' in-memory files).
    init(_ reader: LineReader) {
        limit = nil
        nextLine = { reader.nextChecked(limit: Self.maxLineBytes) }
    }

    func next() -> Result<Seed, SeedError>? {
        if let limit, produced >= limit { return nil }
        while let line = nextLine() {
            lineNumber += 1
            if case .success(let text) = line, Self.isBlank(text) { continue }
            produced += 1
            switch line {
            case .success(let text):
                do { return .success(try Seed.parse(line: text, number: lineNumber)) } catch { return .failure(error) }
            case .failure(.tooLong(let bytes)):
                return .failure(SeedError(line: lineNumber, message: "\(bytes) bytes, over the 16 MiB a seed may have"))
            case .failure(.invalidUTF8(let offset)):
                return .failure(SeedError(line: lineNumber, message: "not valid UTF-8 (byte \(offset))"))
            }
        }
        return nil
    }

    /// The seeds a run takes, for progress: non-blank lines (a cheap pass that does not parse
    /// JSON), or, for a shard, the lines it owns (parsed). A seeds file with no lines is an
    /// error: a run of nothing is a mistake, not a result (a shard may own none).
    static func count(_ input: SeedInput, limit: Int?, shard: Shard?) throws -> Int {
        let lines = try count(input, limit: limit)
        guard let shard else { return lines }
        let source = try SeedSource(input, limit: limit)
        var owned = 0
        while let item = source.next() {
            if shard.owns(item) { owned += 1 }
        }
        return owned
    }

    static func count(_ input: SeedInput, limit: Int?) throws -> Int {
        var n = 0
        let source = try SeedSource(input, limit: nil)
        while let line = source.nextLine() {
            if let limit, n >= limit { break }
            if case .success(let text) = line, isBlank(text) { continue }
            n += 1
        }
        if n == 0, case .file(let path) = input { throw RunError.io("\(path) has no seeds (it is empty or blank)") }
        return n
    }

    private static func isBlank(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
    }
}
