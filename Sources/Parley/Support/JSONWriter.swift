/// A small, fast JSON builder for the hot paths (journal lines, output rows), writing
/// UTF-8 bytes directly, keys in the order given so rows are stable and readable. Measured
/// (`parley-bench json`, release, medians): a journal message line costs 0.44 µs written by hand,
/// 3.5 µs through its `Codable` schema (`encode(_:)`) and 7.5 µs with Foundation's `JSONEncoder`
/// — a whole turn costs 17–20 CPU µs on a 2-core machine (`parley-bench overhead`), so JSONEncoder
/// would add a third to a turn and the per-message records (`HotPathJSON`) stay hand-written;
/// everything else is written through `encode(_:)` from its `Codable` schema. Not copyable: it owns
/// its buffer, and a document is written once, then taken (`line()`, `bytes`, `text`).
package struct JSONWriter: ~Copyable {
    /// The document so far: `count` bytes of `capacity`. Written through a pointer: `Array.append`
    /// checked uniqueness at every byte and took ~95 instructions for each run of bytes, which made
    /// a key cost ~160 (a micro-benchmark under callgrind: 90 this way, allocation included).
    private var storage: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    private var needsComma = false

    /// - Parameter capacity: room at first, for a document whose size is known roughly (it grows as needed).
    package init(capacity: Int = 512) {
        self.capacity = max(capacity, 64)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// The document's bytes (a copy).
    var bytes: [UInt8] { Array(written) }

    var text: String { String(decoding: written, as: UTF8.self) }

    private var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: storage, count: count) }

    /// Ends the document with a newline and returns it as one JSONL line.
    consuming func line() -> [UInt8] { withLine { Array($0) } }

    /// Ends the document with a newline and calls `body` with it, from the buffer (valid only during the call).
    consuming func withLine<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        append(0x0A)
        return try body(written)
    }

    /// Calls `body` with the document's bytes, from the buffer (valid only during the call).
    consuming func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(written))
    }

    /// Calls `body` with the document as a NUL-terminated C string (valid only during the call).
    package consuming func withCString<Result>(_ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        append(0)
        return try UnsafeRawPointer(storage).withMemoryRebound(to: CChar.self, capacity: count) { try body($0) }
    }

    /// Ends the document with a NUL byte and hands its buffer over as a C string: the caller deallocates it.
    package consuming func cString() -> UnsafeMutablePointer<CChar> {
        append(0)
        let text = UnsafeMutableRawPointer(storage).bindMemory(to: CChar.self, capacity: count)
        discard self
        return text
    }

    private mutating func append(_ byte: UInt8) {
        reserve(1)
        storage[count] = byte
        count += 1
    }

    private mutating func append(_ run: UnsafeBufferPointer<UInt8>) {
        guard let start = run.baseAddress, !run.isEmpty else { return }
        reserve(run.count)
        (storage + count).initialize(from: start, count: run.count)
        count += run.count
    }

    private mutating func append(_ text: StaticString) { text.withUTF8Buffer { append($0) } }

    private mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(to: count + extra) }
    }

    private mutating func grow(to needed: Int) {
        while capacity < needed { capacity *= 2 }
        let larger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        larger.moveInitialize(from: storage, count: count)
        storage.deallocate()
        storage = larger
    }

    mutating func beginObject() {
        separate()
        append(UInt8(ascii: "{"))
        needsComma = false
    }
    mutating func endObject() {
        append(UInt8(ascii: "}"))
        needsComma = true
    }
    mutating func beginArray() {
        separate()
        append(UInt8(ascii: "["))
        needsComma = false
    }
    mutating func endArray() {
        append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A key known at compile time: no escaping needed.
    @inline(__always)
    mutating func key(_ k: StaticString) {
        // `,"key":` under one capacity check: rows and request bodies are mostly keys (1,581 instructions a
        // request fewer than four appends, benchmarks/callgrind). Inlined, so that the key's length is a
        // constant and its copy a few moves instead of a call to `memcpy`.
        k.withUTF8Buffer { name in
            reserve(name.count + 4)
            if needsComma {
                storage[count] = UInt8(ascii: ",")
                count += 1
            }
            storage[count] = UInt8(ascii: "\"")
            if let start = name.baseAddress { (storage + count + 1).initialize(from: start, count: name.count) }
            count += name.count + 1
            storage[count] = UInt8(ascii: "\"")
            storage[count + 1] = UInt8(ascii: ":")
            count += 2
        }
        needsComma = false
    }

    /// A key made at run time, escaped as a string is. Disfavoured: a literal key is a `StaticString`, and takes
    /// the overload above (with this one preferred, as String is a literal's default type, the journal's and each
    /// request body's literal keys were escaped at run time: ~120 instructions a key, benchmarks/callgrind).
    @_disfavoredOverload
    mutating func key(_ k: String) {
        separate()
        appendQuoted(k)
        append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func string(_ s: String) {
        separate()
        appendQuoted(s)
        needsComma = true
    }
    mutating func int(_ n: Int) {
        separate()
        appendDigits(n)
        needsComma = true
    }

    /// `n` in decimal (see `initializeDecimal`).
    private mutating func appendDigits(_ n: Int) {
        if n >= 0 && n < 10 {
            append(UInt8(truncatingIfNeeded: n) &+ 0x30)
            return
        }
        if n < 0 { append(UInt8(ascii: "-")) }
        reserve(20)
        count = UnsafeMutableBufferPointer(start: storage, count: capacity).initializeDecimal(n.magnitude, at: count)
    }
    /// `d` as the integer it is written as, or nil when it is written with a fraction or exponent.
    package static func integer(_ d: Double) -> Int? { d == d.rounded() && abs(d) < 1e15 ? Int(d) : nil }

    mutating func double(_ d: Double) {
        separate()
        if let n = d.isFinite ? Self.integer(d) : nil {
            appendDigits(n)
        } else if let thousandths = Self.thousandths(d) {
            // What String(d) writes, without its general algorithm (~450 instructions; every request body
            // writes a temperature and a top_p).
            if thousandths < 0 { append(UInt8(ascii: "-")) }
            let magnitude = thousandths.magnitude
            appendDigits(Int(magnitude / 1000))
            append(UInt8(ascii: "."))
            var fraction = magnitude % 1000
            var divisor: UInt = 100
            while fraction > 0 {
                append(UInt8(ascii: "0") + UInt8(fraction / divisor))
                fraction %= divisor
                divisor /= 10
            }
        } else {
            var text = d.isFinite ? String(d) : "null"
            text.withUTF8 { append($0) }
        }
        needsComma = true
    }
    /// `d` in thousandths, when it has at most three decimals and is not an integer (0.7, 12.25), is under
    /// a billion (so that `String(d)` writes no exponent), and no shorter decimal stands for it.
    static func thousandths(_ d: Double) -> Int? {
        guard d.isFinite, d.magnitude < 1e9, d.magnitude >= 0.001 else { return nil }
        let scaled = (d * 1000).rounded()
        guard scaled / 1000 == d, let n = Int(exactly: scaled), n % 1000 != 0 else { return nil }
        return n
    }

    mutating func bool(_ b: Bool) {
        separate()
        append(b ? "true" : "false")
        needsComma = true
    }
    mutating func null() {
        separate()
        append("null")
        needsComma = true
    }

    @inline(__always)
    mutating func field(_ k: StaticString, _ s: String) {
        key(k)
        string(s)
    }
    @inline(__always)
    mutating func field(_ k: StaticString, _ n: Int) {
        key(k)
        int(n)
    }
    @inline(__always)
    mutating func field(_ k: StaticString, _ s: String?) {
        if let s {
            key(k)
            string(s)
        }
    }
    @inline(__always)
    mutating func field(_ k: StaticString, _ n: Int?) {
        if let n {
            key(k)
            int(n)
        }
    }
    /// A chat message as chat APIs and Parley's rows write it, `{"role":"user","content":"…"}`: its role and keys
    /// are one run of bytes (a request body writes one for each message of its conversation).
    mutating func message(_ speaker: Speaker, _ content: String) {
        openMessage(speaker, content)
        endObject()
    }

    /// `message(_:_:)` left open, for more fields before `endObject()`.
    mutating func openMessage(_ speaker: Speaker, _ content: String) {
        separate()
        let opening: StaticString =
            switch speaker {
            case .system: #"{"role":"system","content":"#
            case .user: #"{"role":"user","content":"#
            case .assistant: #"{"role":"assistant","content":"#
            }
        append(opening)
        appendQuoted(content)
        needsComma = true
    }

    /// Always written: null when absent (so dataset loaders infer one schema).
    @inline(__always)
    mutating func nullable(_ k: StaticString, _ s: String?) {
        key(k)
        if let s { string(s) } else { null() }
    }
    @inline(__always)
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

    private mutating func separate() { if needsComma { append(UInt8(ascii: ",")) } }

    private mutating func appendQuoted(_ s: String) {
        s.withBorrowedUTF8 { utf8 in
            // The text and its quotes under one capacity check, each escape under one more; runs of bytes that need
            // no escape are copied whole. Each message's text passes here for its journal line, its row and every
            // request body that quotes it (an append per run and per escaped byte cost a C callback request 553
            // instructions more, benchmarks/callgrind).
            reserve(utf8.count + 2)
            storage[count] = UInt8(ascii: "\"")
            count += 1
            var copied = 0
            var i = Self.firstToEscape(utf8, from: 0)
            while i < utf8.count {
                copy(utf8, copied..<i)
                reserve(utf8.count - i + 6)  // the escape (up to 6 bytes), the rest of the text, the closing quote
                writeEscape(utf8[i])
                copied = i + 1
                i = Self.firstToEscape(utf8, from: copied)
            }
            copy(utf8, copied..<utf8.count)
            storage[count] = UInt8(ascii: "\"")
            count += 1
        }
    }

    /// Copies `range` of `utf8` into capacity already reserved.
    private mutating func copy(_ utf8: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        guard let base = utf8.baseAddress, !range.isEmpty else { return }
        (storage + count).initialize(from: base + range.lowerBound, count: range.count)
        count += range.count
    }

    /// The index of the first byte at or after `start` that JSON must escape (a control character, `"`
    /// or `\`), else `utf8.count`. Bytes of multi-byte UTF-8 sequences are all ≥ 0x80, so a byte-wise
    /// test is exact; it takes eight bytes a step (a byte-wise scan was 1.7 µs of a callback request,
    /// whose whole conversation is written as JSON, in perf of benchmarks/c).
    private static func firstToEscape(_ utf8: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let raw = UnsafeRawBufferPointer(utf8)
        var i = start
        while i + 8 <= utf8.count {
            let x = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let quote = x ^ (ones &* 0x22)
            let backslash = x ^ (ones &* 0x5C)
            // A high bit for each byte below 0x20 and each zero byte of `quote` and `backslash`: exact
            // as to whether there is one (a borrow can mark more bytes only after a marked one).
            let control = (x &- ones &* 0x20) & ~x
            let marked = (control | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)) & highs
            if marked != 0 { break }
            i += 8
        }
        while i < utf8.count, !needsEscape(utf8[i]) { i += 1 }
        return i
    }

    private static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C }

    /// Writes the escape of `b` into capacity already reserved: up to 6 bytes.
    private mutating func writeEscape(_ b: UInt8) {
        storage[count] = UInt8(ascii: "\\")
        let short: UInt8? =
            switch b {
            case 0x22, 0x5C: b
            case 0x0A: UInt8(ascii: "n")
            case 0x0D: UInt8(ascii: "r")
            case 0x09: UInt8(ascii: "t")
            default: nil
            }
        if let short {
            storage[count + 1] = short
            count += 2
            return
        }
        // Another control character: \u00XX.
        storage[count + 1] = UInt8(ascii: "u")
        storage[count + 2] = UInt8(ascii: "0")
        storage[count + 3] = UInt8(ascii: "0")
        storage[count + 4] = Self.hexDigit(b >> 4)
        storage[count + 5] = Self.hexDigit(b & 0xF)
        count += 6
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }
}
