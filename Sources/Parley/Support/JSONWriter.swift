/// A small, fast JSON builder for the hot paths (journal lines, output rows), writing
/// UTF-8 bytes directly, keys in the order given so rows are stable and readable. Measured
/// (`parley-bench json`, release, medians): a journal message line costs 4.5 µs written by hand,
/// 8.9 µs through its `Codable` schema (`encode(_:)`) and 10.2 µs with Foundation's `JSONEncoder`
/// — a whole turn costs 32–40 µs on a 2-core machine (`benchmarks/compare`'s overhead), so JSONEncoder
/// would add about 15 % to a turn and the per-message records (`HotPathJSON`) stay hand-written;
/// everything else is written through `encode(_:)` from its `Codable` schema.
package struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    init() { bytes.reserveCapacity(512) }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Ends the document with a newline and returns it as one JSONL line.
    consuming func line() -> [UInt8] {
        bytes.append(0x0A)
        return bytes
    }

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }
    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }
    mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }
    mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A key known at compile time: no escaping needed.
    mutating func key(_ k: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        k.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func key(_ k: String) {
        separate()
        appendQuoted(k)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func string(_ s: String) {
        separate()
        appendQuoted(s)
        needsComma = true
    }
    mutating func int(_ n: Int) {
        separate()
        bytes.append(contentsOf: String(n).utf8)
        needsComma = true
    }
    /// `d` as the integer it is written as, or nil when it is written with a fraction or exponent.
    package static func integer(_ d: Double) -> Int? { d == d.rounded() && abs(d) < 1e15 ? Int(d) : nil }

    mutating func double(_ d: Double) {
        separate()
        let text = d.isFinite ? (Self.integer(d).map { String($0) } ?? String(d)) : "null"
        bytes.append(contentsOf: text.utf8)
        needsComma = true
    }
    mutating func bool(_ b: Bool) {
        separate()
        bytes.append(contentsOf: (b ? "true" : "false").utf8)
        needsComma = true
    }
    mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    mutating func field(_ k: StaticString, _ s: String) {
        key(k)
        string(s)
    }
    mutating func field(_ k: StaticString, _ n: Int) {
        key(k)
        int(n)
    }
    mutating func field(_ k: StaticString, _ s: String?) {
        if let s {
            key(k)
            string(s)
        }
    }
    mutating func field(_ k: StaticString, _ n: Int?) {
        if let n {
            key(k)
            int(n)
        }
    }
    /// Always written: null when absent (so dataset loaders infer one schema).
    mutating func nullable(_ k: StaticString, _ s: String?) {
        key(k)
        if let s { string(s) } else { null() }
    }
    mutating func nullable(_ k: StaticString, _ n: Int?) {
        key(k)
        if let n { int(n) } else { null() }
    }

    mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n): double(n)
        case .string(let s): string(s)
        case .array(let a):
            beginArray()
            for e in a { value(e) }
            endArray()
        case .object(let o):
            beginObject()
            for (k, v) in o.sorted(by: { $0.key < $1.key }) {
                key(k)
                value(v)
            }
            endObject()
        }
    }

    private mutating func separate() { if needsComma { bytes.append(UInt8(ascii: ",")) } }

    private mutating func appendQuoted(_ s: String) {
        var s = s
        bytes.append(UInt8(ascii: "\""))
        s.withUTF8 { utf8 in
            // Fast path: nothing to escape (the common case). Bytes of multi-byte
            // UTF-8 sequences are all ≥ 0x80, so a byte-wise scan is exact.
            if !utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
                bytes.append(contentsOf: utf8)
                return
            }
            for b in utf8 {
                switch b {
                case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
                case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case ..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                default: bytes.append(b)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
