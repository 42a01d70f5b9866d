/// Where a dialogue starts. One JSON object per line of a seeds file:
/// - `{"question": q}`: the first user turn is given;
/// - `{"question": q, "answer": a}`: a whole first exchange is given (PlatoLM's seeded mode);
/// - `{}` or `{"topic": t}`: the asker opens the dialogue (free mode).
/// An `"id"` is kept; otherwise the id is derived from the content and the line number.
/// Other fields are kept in `extra` and copied to the dialogue's `meta.seed`.
public struct Seed: Sendable, Equatable {
    public var id: String
    /// 1-based line in the seeds file (0 for seeds given by a host).
    public var line: Int
    public var question: String?
    public var answer: String?
    public var topic: String?
    public var extra: [String: JSONValue]

    public init(
        id: String? = nil, line: Int = 0, question: String? = nil, answer: String? = nil,
        topic: String? = nil, extra: [String: JSONValue] = [:]
    ) {
        self.line = line
        self.question = question
        self.answer = answer
        self.topic = topic
        self.extra = extra
        self.id = id ?? Seed.derivedID(line: line, question: question, answer: answer, topic: topic)
    }

    public enum Mode: String, Sendable { case question, exchange, free }

    public var mode: Mode {
        if question == nil { return .free }
        return answer == nil ? .question : .exchange
    }

    static func derivedID(line: Int, question: String?, answer: String?, topic: String?) -> String {
        var h = StableHash()
        h.combine(question ?? "\u{0}")
        h.combine(answer ?? "\u{0}")
        h.combine(topic ?? "\u{0}")
        h.combine(line)
        return "d" + h.hex
    }

    /// Parses one seeds-file line. Errors name the field and what was wrong.
    public static func parse(line text: String, number: Int) throws(SeedError) -> Seed {
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch {
            throw SeedError(line: number, message: "not valid JSON: \(error)")
        }
        guard case .object(let fields) = value else {
            throw SeedError(line: number, message: "expected a JSON object, got \(value.shortDescription)")
        }
        // One pass over the fields, no lookup by key (each hashed the key: ~2,900 instructions a seed, of ~10K,
        // benchmarks/callgrind); the known ones are read after it in a fixed order, so that a seed with two bad
        // fields is reported the same way whatever order the dictionary keeps.
        var given: (id: JSONValue?, question: JSONValue?, answer: JSONValue?, topic: JSONValue?) = (nil, nil, nil, nil)
        var extra: [String: JSONValue] = [:]
        for (key, v) in fields {
            switch key {
            case "id": given.id = Self.integerAsText(v)
            case "question": given.question = v
            case "answer": given.answer = v
            case "topic": given.topic = v
            case "question_id": extra[key] = Self.integerAsText(v)  // MT-Bench's question files: integers
            default: extra[key] = v
            }
        }
        if given.id == nil, !extra.isEmpty { given.id = extra["question_id"] }
        func string(_ v: JSONValue?, _ key: String) throws(SeedError) -> String? {
            guard let v else { return nil }
            if case .null = v { return nil }
            guard case .string(let s) = v else {
                throw SeedError(line: number, message: "\(key): expected a string, got \(v.shortDescription)")
            }
            return s
        }
        let id = try string(given.id, "id")
        let question = try string(given.question, "question")
        let answer = try string(given.answer, "answer")
        let topic = try string(given.topic, "topic")
        if answer != nil && question == nil {
            throw SeedError(line: number, message: "answer: given without a question")
        }
        if let id, id.isEmpty { throw SeedError(line: number, message: "id: must not be empty") }
        return Seed(id: id, line: number, question: question, answer: answer, topic: topic, extra: extra)
    }

    /// An integral number as its digits (`12`, not `12.0`); any other value as it is.
    private static func integerAsText(_ v: JSONValue) -> JSONValue {
        guard case .number(let n) = v, n == n.rounded(), abs(n) < 1e15 else { return v }
        return .string(String(Int(n)))
    }
}

public struct SeedError: Error, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "seeds line \(line): \(message)" }
}
