// Jansson values to and from Parley's directly, for the pull queue's json_t faces: a take of 64
// requests cost the host thread ~20 µs per request in json_loads of their text, more than the
// rest of the round trip together (benchmarks/c), and a submit was dumped to text to be parsed
// again. The values are those the text (`HostJSON`) has, number types included: Tests/c
// test_pull_faces_agree.
import CJansson
import Parley

enum JanssonValues {
    typealias Value = UnsafeMutablePointer<json_t>

    /// A new reference to the request as `HostJSON.request(r, ticket:)` writes it (nil: out of memory).
    /// jansson's functions take a NULL value or container and release what they were handed.
    static func request(_ r: GenerationRequest, ticket: UInt64) -> Value? {
        guard let o = json_object() else { return nil }
        set(o, "ticket", json_integer(json_int_t(truncatingIfNeeded: ticket)))
        set(o, "dialogue_id", string(r.dialogueID))
        set(o, "turn", json_integer(json_int_t(r.messageIndex)))
        set(o, "role", string(r.role))
        set(o, "attempt", json_integer(json_int_t(r.attempt)))
        set(o, "model", r.model.map(string) ?? json_null())
        set(o, "max_tokens", json_integer(json_int_t(r.maxTokens)))
        set(o, "temperature", number(r.temperature))
        set(o, "top_p", number(r.topP))
        let stop = json_array()
        for s in r.stop { json_array_append_new(stop, string(s)) }
        set(o, "stop", stop)
        set(o, "seed", json_integer(json_int_t(truncatingIfNeeded: r.seed & 0x7FFF_FFFF)))
        if !r.params.isEmpty { set(o, "params", value(.object(r.params))) }
        switch r.prompt {
        case .chat(let messages):
            let list = json_array()
            for m in messages {
                let message = json_object()
                set(message, "role", string(m.role.rawValue))
                set(message, "content", string(m.content))
                json_array_append_new(list, message)
            }
            set(o, "messages", list)
        case .text(let prompt):
            set(o, "prompt", string(prompt))
        }
        return o
    }

    /// A new reference to `v`.
    static func value(_ v: JSONValue) -> Value? {
        switch v {
        case .null: return json_null()
        case .bool(let b): return b ? json_true() : json_false()
        case .number(let n): return number(n)
        case .string(let s): return string(s)
        case .array(let items):
            let a = json_array()
            for item in items { json_array_append_new(a, value(item)) }
            return a
        case .object(let fields):
            let o = json_object()
            for (k, item) in fields { json_object_set_new(o, k, value(item)) }
            return o
        }
    }

    /// As `JSONWriter.double` writes it and jansson reads that back: integral values as integers.
    private static func number(_ d: Double) -> Value? {
        guard d.isFinite else { return json_null() }
        return JSONWriter.integer(d).map { json_integer(json_int_t($0)) } ?? json_real(d)
    }

    /// A Swift string is valid UTF-8, so jansson need not check it again; NUL bytes are kept
    /// (json_loads of the text refused them).
    private static func string(_ s: String) -> Value? {
        s.withBorrowedUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                guard let start = chars.baseAddress else { return json_string_nocheck("") }
                return json_stringn_nocheck(start, chars.count)
            }
        }
    }

    private static func set(_ o: Value?, _ key: String, _ v: Value?) { json_object_set_new_nocheck(o, key, v) }

    typealias Answer = (ticket: UInt64, result: Result<GenerationResult, BackendError>)

    /// The answers in `array` when every one is a plain success: "ticket" and "text", maybe
    /// "finish_reason", "prompt_tokens" and "completion_tokens", each of its type. nil for
    /// anything else, which `HostJSON.answers` then reads with its checks and messages.
    static func plainAnswers(_ array: UnsafePointer<json_t>) -> [Answer]? {
        let a = UnsafeMutablePointer(mutating: array)
        guard a.pointee.type == JSON_ARRAY else { return nil }
        var out: [Answer] = []
        out.reserveCapacity(json_array_size(a))
        for i in 0..<json_array_size(a) {
            guard let o = json_array_get(a, i), o.pointee.type == JSON_OBJECT,
                let ticket = integer(json_object_get(o, "ticket"), min: 1, max: HostJSON.maxTicket),
                let answer = text(json_object_get(o, "text"))
            else { return nil }
            var fields = 2
            var result = GenerationResult(text: answer)
            guard read(o, "finish_reason", &fields, { text($0) }, into: &result.finishReason),
                read(o, "prompt_tokens", &fields, { integer($0, min: 0) }, into: &result.promptTokens),
                read(o, "completion_tokens", &fields, { integer($0, min: 0) }, into: &result.completionTokens),
                json_object_size(o) == fields
            else { return nil }
            out.append((UInt64(ticket), .success(result)))
        }
        return out
    }

    /// An optional field: absent or null leaves `value` nil; false when it has the wrong type.
    private static func read<T>(
        _ o: Value, _ key: String, _ fields: inout Int, _ convert: (Value) -> T?, into value: inout T?
    ) -> Bool {
        guard let v = json_object_get(o, key) else { return true }
        fields += 1
        if v.pointee.type == JSON_NULL { return true }
        value = convert(v)
        return value != nil
    }

    private static func integer(_ v: Value?, min: Int, max: Int = Int(Int32.max)) -> Int? {
        guard let v, v.pointee.type == JSON_INTEGER else { return nil }
        let n = Int(json_integer_value(v))
        return n >= min && n <= max ? n : nil
    }

    private static func text(_ v: Value?) -> String? {
        guard let v, v.pointee.type == JSON_STRING, let chars = json_string_value(v) else { return nil }
        // Invalid UTF-8 (made with json_stringn_nocheck) is nil: the text path then reports it.
        return String(validating: UnsafeRawBufferPointer(start: chars, count: json_string_length(v)), as: UTF8.self)
    }
}
