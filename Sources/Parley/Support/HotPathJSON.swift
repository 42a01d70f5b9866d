/// The JSON of every message and seed in the journal and the output files, written by hand because it
/// is written for every turn (see `JSONWriter` for the figures). `Message`'s `Codable` conformance is
/// the schema the journal is read back with; a unit test checks that the two write the same bytes.
enum HotPathJSON {
    static func seed(_ s: Seed, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", s.id)
        w.field("line", s.line)
        w.field("question", s.question)
        w.field("answer", s.answer)
        w.field("topic", s.topic)
        if !s.extra.isEmpty {
            w.key("extra")
            w.value(.object(s.extra))
        }
        w.endObject()
    }

    static func message(_ m: Message, into w: inout JSONWriter) {
        w.openMessage(m.speaker, m.content)
        if let t = m.meta {
            // Compact: only the fields that are known.
            w.key("meta")
            w.beginObject()
            w.field("role", t.role)
            w.field("model", t.model)
            w.field("prompt_tokens", t.promptTokens)
            w.field("completion_tokens", t.completionTokens)
            w.field("latency_ms", t.latencyMs)
            w.field("finish_reason", t.finishReason)
            w.field("attempts", t.attempts)
            w.endObject()
        }
        w.endObject()
    }

    /// Every key is always present (null when unknown) so datasets infer one schema.
    static func turnMeta(_ t: TurnMeta?, into w: inout JSONWriter) {
        w.beginObject()
        w.nullable("role", t?.role)
        w.nullable("model", t?.model)
        w.nullable("prompt_tokens", t?.promptTokens)
        w.nullable("completion_tokens", t?.completionTokens)
        w.nullable("latency_ms", t?.latencyMs)
        w.nullable("finish_reason", t?.finishReason)
        w.nullable("attempts", t?.attempts)
        w.endObject()
    }
}
