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
        guard case .object(var fields) = value else {
            throw SeedError(line: number, message: "expected a JSON object, got \(value.shortDescription)")
        }
        func take(_ key: String) throws(SeedError) -> String? {
            guard let v = fields.removeValue(forKey: key) else { return nil }
            if case .null = v { return nil }
            guard case .string(let s) = v else {
                throw SeedError(line: number, message: "\(key): expected a string, got \(v.shortDescription)")
            }
            return s
        }
        // MT-Bench's question files use integer `question_id`s.
        for key in ["id", "question_id"] {
            if case .number(let n)? = fields[key], n == n.rounded(), abs(n) < 1e15 {
                fields[key] = .string(String(Int(n)))
            }
        }
        if fields["id"] == nil, let q = fields["question_id"] { fields["id"] = q }
        let id = try take("id")
        let question = try take("question")
        let answer = try take("answer")
        let topic = try take("topic")
        if answer != nil && question == nil {
            throw SeedError(line: number, message: "answer: given without a question")
        }
        if let id, id.isEmpty { throw SeedError(line: number, message: "id: must not be empty") }
        return Seed(id: id, line: number, question: question, answer: answer, topic: topic, extra: fields)
    }
}

public struct SeedError: Error, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "seeds line \(line): \(message)" }
}
