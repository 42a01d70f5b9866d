import FoundationEssentials

/// The dataset shapes Parley reads and writes, one dialogue per row:
/// - `sharegpt`: `{"conversations": [{"from": "human"|"gpt"|"system", "value"}]}` (Parley's own);
/// - `messages`: `{"messages": [{"role": "user"|"assistant"|"system", "content"}]}` (OpenAI, TRL);
/// - `ultrachat`: `{"id", "data": ["user", "assistant", "user", …]}`;
/// - `baize`: `{"input": "…[|Human|] …\n[|AI|] …\n[|Human|] "}`, a transcript with markers.
public enum DatasetShape: String, Sendable, CaseIterable {
    case sharegpt, messages, ultrachat, baize

    /// The shape a row has, from the key that carries its messages.
    public static func detect(_ row: [String: JSONValue]) -> DatasetShape? {
        if row["conversations"] != nil { return .sharegpt }
        if row["messages"] != nil { return .messages }
        if row["data"] != nil { return .ultrachat }
        if row["input"] != nil { return .baize }
        return nil
    }

    /// A row's messages, or nil when the row is not in this shape.
    public func messages(of row: [String: JSONValue]) -> [Message]? {
        switch self {
        case .sharegpt: return Self.messages(row["conversations"], speaker: "from", text: "value")
        case .messages: return Self.messages(row["messages"], speaker: "role", text: "content")
        case .ultrachat:
            guard case .array(let items)? = row["data"] else { return nil }
            return items.enumerated().compactMap { i, item in
                item.stringValue.map { Message(i % 2 == 0 ? .user : .assistant, $0) }
            }
        case .baize:
            guard let input = row["input"]?.stringValue else { return nil }
            return Self.baizeMessages(input)
        }
    }

    /// A list of `{speaker: …, text: …}` objects; entries with an unknown speaker are left out.
    static func messages(_ list: JSONValue?, speaker: String, text: String) -> [Message]? {
        guard case .array(let items)? = list else { return nil }
        return items.compactMap { item in
            guard case .object(let o) = item, let name = o[speaker]?.stringValue, let content = o[text]?.stringValue,
                let who = Self.speakers[name.lowercased()]
            else { return nil }
            return Message(who, content)
        }
    }

    /// Speaker names used by the ShareGPT and messages shapes in the wild.
    static let speakers: [String: Speaker] = [
        "human": .user, "user": .user, "gpt": .assistant, "assistant": .assistant, "chatgpt": .assistant,
        "bard": .assistant, "bing": .assistant, "model": .assistant, "system": .system,
    ]

    static let humanMarker = "[|Human|]", aiMarker = "[|AI|]"

    /// Splits a Baize transcript at its markers; text before the first marker and empty turns are left out.
    static func baizeMessages(_ input: String) -> [Message] {
        var out: [Message] = []
        var rest = Substring(input)
        var speaker: Speaker?
        while !rest.isEmpty {
            let human = rest.firstRange(of: humanMarker)
            let ai = rest.firstRange(of: aiMarker)
            let next = [human.map { ($0, Speaker.user) }, ai.map { ($0, Speaker.assistant) }].compactMap { $0 }
                .min { $0.0.lowerBound < $1.0.lowerBound }
            let text = next.map { rest[..<$0.0.lowerBound] } ?? rest
            if let speaker {
                let t = text.trimmingWhitespace()
                if !t.isEmpty { out.append(Message(speaker, t)) }
            }
            guard let (range, who) = next else { break }
            speaker = who
            rest = rest[range.upperBound...]
        }
        return out
    }

    /// One row in this shape. Shapes without a system message (ultrachat, baize) leave it out.
    public func row(id: String?, messages: [Message]) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        if let id { w.field("id", id) }
        switch self {
        case .sharegpt:
            w.key("conversations")
            w.beginArray()
            for m in messages {
                w.beginObject()
                w.field("from", m.speaker == .user ? "human" : m.speaker == .assistant ? "gpt" : "system")
                w.field("value", m.content)
                w.endObject()
            }
            w.endArray()
        case .messages:
            w.key("messages")
            w.beginArray()
            for m in messages { w.message(m.speaker, m.content) }
            w.endArray()
        case .ultrachat:
            w.key("data")
            w.beginArray()
            for m in messages where m.speaker != .system { w.string(m.content) }
            w.endArray()
        case .baize:
            var text = "The conversation between human and AI assistant."
            for m in messages where m.speaker != .system {
                text += "\n" + (m.speaker == .user ? Self.humanMarker : Self.aiMarker) + " " + m.content
            }
            w.field("input", text + "\n" + Self.humanMarker + " ")
        }
        w.endObject()
        return w.line()
    }
}
