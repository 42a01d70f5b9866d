import FoundationEssentials

/// One dialogue read from a dataset file.
public struct DatasetRow: Sendable {
    /// The row's `id` (or `session_id`) where it has one.
    public var id: String?
    public var messages: [Message]
    /// How many of the first messages the seed gave rather than a model wrote: Parley's own
    /// rows say so in `meta.generation` (no role); 0 for rows that do not.
    public var seedMessages: Int

    public init(id: String? = nil, messages: [Message], seedMessages: Int = 0) {
        self.id = id
        self.messages = messages
        self.seedMessages = seedMessages
    }

    /// The leading messages whose `meta.generation` entry names no role (when it has one per message).
    static func seedMessages(of row: [String: JSONValue], count: Int) -> Int {
        guard case .array(let generation)? = row["meta"]?.objectValue?["generation"], generation.count == count
        else { return 0 }
        return generation.firstIndex { ($0.objectValue?["role"]?.stringValue).map { !$0.isEmpty } ?? false } ?? count
    }
}

/// Reads the dialogues of a dataset file in any `DatasetShape`: JSONL, streamed one
/// line at a time (memory does not grow with the file), or one JSON array (read whole).
/// The shape is given, or detected from the first row that has one.
public final class DatasetReader {
    public let path: String
    public private(set) var shape: DatasetShape?
    /// Rows that are not dialogues of the shape (not JSON, no messages, no user turn).
    public private(set) var skipped = 0
    /// Rows read so far, dialogues or not.
    public private(set) var rowsRead = 0
    private var nextRow: () -> JSONValue??

    public init(path: String, shape: DatasetShape? = nil) throws {
        self.path = path
        self.shape = shape
        let head = try ReadOnlyFile(path: path).read(4096)
        if head.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) == UInt8(ascii: "[") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw RunError.io("cannot read \(path)")
            }
            let root: JSONValue
            do { root = try JSONValue.parse(text) } catch { throw RunError.io("\(path) is not valid JSON: \(error)") }
            guard case .array(let items) = root else { throw RunError.io("\(path): expected a JSON array") }
            var iterator = items.makeIterator()
            nextRow = { iterator.next().map { .some($0) } }
        } else {
            let lines = try LineReader(path: path)
            nextRow = {
                while let (text, _) = lines.next() {
                    if text.allSatisfy(\.isWhitespace) { continue }
                    return .some(try? JSONValue.parse(text))
                }
                return nil
            }
        }
    }

    /// The next row that is a JSON object, as it is (for the fields besides the messages).
    public func nextObject() -> [String: JSONValue]? {
        while let item = nextRow() {
            rowsRead += 1
            if case .object(let row)? = item { return row }
            skipped += 1
        }
        return nil
    }

    /// Non-blank lines of a file; 0 when it does not exist.
    public static func lineCount(_ path: String) throws -> Int {
        guard FileManager.default.fileExists(atPath: path) else { return 0 }
        let reader = try LineReader(path: path)
        var n = 0
        while let (text, _) = reader.next() { if !text.allSatisfy(\.isWhitespace) { n += 1 } }
        return n
    }

    /// The next dialogue, or nil at the end of the file.
    public func next() -> DatasetRow? {
        while let item = nextRow() {
            rowsRead += 1
            guard case .object(let row)? = item else {
                skipped += 1
                continue
            }
            if shape == nil { shape = DatasetShape.detect(row) }
            guard let shape, let messages = shape.messages(of: row), messages.contains(where: { $0.speaker == .user })
            else {
                skipped += 1
                continue
            }
            let id = (row["id"] ?? row["session_id"]).flatMap { v -> String? in
                switch v {
                case .string(let s): s
                case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
                default: nil
                }
            }
            return DatasetRow(
                id: id, messages: messages, seedMessages: DatasetRow.seedMessages(of: row, count: messages.count))
        }
        return nil
    }
}
