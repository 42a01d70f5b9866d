/// A small, fast JSON text builder for the hot paths (journal lines, output rows):
/// JSONEncoder costs several microseconds per object, this costs a copy.
/// Keys are written in the order given, so outputs are stable and readable.
struct JSONWriter {
    private(set) var text = ""
    private var needsComma = false

    init() { text.reserveCapacity(256) }

    mutating func beginObject() { separate(); text.append("{"); needsComma = false }
    mutating func endObject() { text.append("}"); needsComma = true }
    mutating func beginArray() { separate(); text.append("["); needsComma = false }
    mutating func endArray() { text.append("]"); needsComma = true }

    mutating func key(_ k: String) {
        separate()
        appendQuoted(k)
        text.append(":")
        needsComma = false
    }

    mutating func string(_ s: String) { separate(); appendQuoted(s); needsComma = true }
    mutating func int(_ n: Int) { separate(); text.append(String(n)); needsComma = true }
    mutating func double(_ d: Double) {
        separate()
        text.append(d.isFinite ? (d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)) : "null")
        needsComma = true
    }
    mutating func bool(_ b: Bool) { separate(); text.append(b ? "true" : "false"); needsComma = true }
    mutating func null() { separate(); text.append("null"); needsComma = true }

    mutating func field(_ k: String, _ s: String) { key(k); string(s) }
    mutating func field(_ k: String, _ n: Int) { key(k); int(n) }
    mutating func field(_ k: String, _ s: String?) { if let s { key(k); string(s) } }
    mutating func field(_ k: String, _ n: Int?) { if let n { key(k); int(n) } }
    mutating func field(_ k: String, _ d: Double?) { if let d { key(k); double(d) } }

    mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n): double(n)
        case .string(let s): string(s)
        case .array(let a):
            beginArray(); for e in a { value(e) }; endArray()
        case .object(let o):
            beginObject()
            for k in o.keys.sorted() { key(k); value(o[k]!) }
            endObject()
        }
    }

    private mutating func separate() { if needsComma { text.append(",") } }

    private mutating func appendQuoted(_ s: String) {
        text.append("\"")
        // Fast path: nothing to escape (the common case for keys and most prose).
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            text.append(s)
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": text.append("\\\"")
                case "\\": text.append("\\\\")
                case "\n": text.append("\\n")
                case "\r": text.append("\\r")
                case "\t": text.append("\\t")
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    text.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
                default: text.unicodeScalars.append(scalar)
                }
            }
        }
        text.append("\"")
    }
}
