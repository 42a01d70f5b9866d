/// A small JSON parser over UTF-8 bytes, for values of open shape (`JSONValue`): seeds lines,
/// server replies, host answers, configs. It is 15-20× faster than `JSONDecoder` into a `JSONValue`
/// (`parley-bench json`, release, medians: a seeds line 0.41 µs vs 7.5 µs, a chat completion reply
/// 2.13 µs vs 35 µs — once per request), says at which byte the text went wrong, and bounds nesting
/// so that hostile input crossing the C ABI cannot overflow a host process's stack. Typed records
/// (journal events, recipe records) are read with `JSONDecoder`.
struct JSONParser {
    struct Failure: Error, CustomStringConvertible {
        var message: String
        var offset: Int
        var description: String { "\(message) at byte \(offset)" }
    }

    static let maxDepth = 256

    private let bytes: [UInt8]
    private var i = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    static func parse(_ text: some StringProtocol) throws(Failure) -> JSONValue {
        try parse(utf8: Array(text.utf8))
    }

    /// Parses UTF-8 bytes (an HTTP body) without making a String of them first.
    static func parse(utf8 bytes: [UInt8]) throws(Failure) -> JSONValue {
        var p = JSONParser(bytes)
        p.skipSpace()
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == p.bytes.count else { throw p.fail("unexpected text after the JSON value") }
        return value
    }

    private func fail(_ message: String) -> Failure { Failure(message: message, offset: i) }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        guard depth < Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) levels") }
        guard i < bytes.count else { throw fail("unexpected end of text") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count, word.withUTF8Buffer({ bytes[i..<i + n].elementsEqual($0) }) else {
            throw fail("unexpected character")
        }
        i += n
    }

    private mutating func object(depth: Int) throws(Failure) -> JSONValue {
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
            return .object([:])
        }
        // Room for the usual object (a reply's, a seed's) at once: growing from empty rehashed 3 times.
        var fields = [String: JSONValue](minimumCapacity: 8)
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key in quotes") }
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipSpace()
            fields[key] = try value(depth: depth + 1)
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of text in an object") }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if bytes[i] == UInt8(ascii: "}") {
                i += 1
                return .object(fields)
            }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func array(depth: Int) throws(Failure) -> JSONValue {
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
            i += 1
            return .array(items)
        }
        while true {
            skipSpace()
            items.append(try value(depth: depth + 1))
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of text in an array") }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if bytes[i] == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func string() throws(Failure) -> String {
        i += 1  // the opening quote
        let start = i
        var ascii = true
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") {
            if bytes[i] < 0x20 { throw fail("a control character in a string") }
            if bytes[i] >= 0x80 { ascii = false }
            i += 1
        }
        guard i < bytes.count else { throw fail("unterminated string") }
        if bytes[i] == UInt8(ascii: "\"") {
            // No escapes (most strings): the text straight from the bytes, without a copy first.
            i += 1
            return try bytes.withUnsafeBufferPointer { (all) throws(Failure) in
                try Self.text(UnsafeBufferPointer(rebasing: all[start..<i - 1]), ascii: ascii, at: i)
            }
        }
        var out = Array(bytes[start..<i])
        while bytes[i] != UInt8(ascii: "\"") {
            // bytes[i] is a backslash
            i += 1
            guard i < bytes.count else { throw fail("unterminated string") }
            switch bytes[i] {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), i + 2 < bytes.count, bytes[i + 1] == UInt8(ascii: "\\"),
                    bytes[i + 2] == UInt8(ascii: "u")
                {
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("an invalid surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                out.append(contentsOf: String(Unicode.Scalar(scalar) ?? "\u{FFFD}").utf8)
            default: throw fail("an invalid escape")
            }
            i += 1
            while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") {
                if bytes[i] < 0x20 { throw fail("a control character in a string") }
                out.append(bytes[i])
                i += 1
            }
            guard i < bytes.count else { throw fail("unterminated string") }
        }
        i += 1  // the closing quote
        return try out.withUnsafeBufferPointer { (utf8) throws(Failure) in
            try Self.text(utf8, ascii: !utf8.contains { $0 >= 0x80 }, at: i)
        }
    }

    /// A string's UTF-8 as a `String`. ASCII needs no check, so it skips `String(validating:)`, which
    /// looked up generic metadata on every call (1% of `parley synth`'s CPU against a stub server).
    private static func text(_ utf8: UnsafeBufferPointer<UInt8>, ascii: Bool, at offset: Int) throws(Failure) -> String
    {
        if ascii { return String(decoding: utf8, as: UTF8.self) }
        // A server's body may not be UTF-8 at all (Latin-1): that is a malformed reply, not text to repair.
        guard let text = String(validating: utf8, as: UTF8.self) else {
            throw Failure(message: "a string that is not UTF-8", offset: offset)
        }
        return text
    }

    /// The four hex digits after `\u`; leaves `i` on the last one.
    private mutating func hex4() throws(Failure) -> UInt32 {
        guard i + 4 < bytes.count else { throw fail("a short \\u escape") }
        var v: UInt32 = 0
        for k in 1...4 {
            let b = bytes[i + k]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw fail("a bad \\u escape")
            }
            v = v << 4 | UInt32(d)
        }
        i += 4
        return v
    }

    private mutating func number() throws(Failure) -> Double {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.i
            while p.i < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.i]) { p.i += 1 }
            return p.i - s
        }
        let intDigits = digits(&self)
        guard intDigits > 0, !(intDigits > 1 && bytes[i - intDigits] == UInt8(ascii: "0")) else {
            throw fail("a malformed number")
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits(&self) > 0 else { throw fail("a malformed number") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits(&self) > 0 else { throw fail("a malformed number") }
        }
        // Integers (token counts, timestamps) are most numbers: read them without a String and strtod.
        let negative = bytes[start] == UInt8(ascii: "-")
        if i - start == intDigits + (negative ? 1 : 0), intDigits <= 15 {  // 15 digits are exact in a Double
            var n = 0
            for k in i - intDigits..<i { n = n * 10 + Int(bytes[k] - UInt8(ascii: "0")) }
            return negative ? -Double(n) : Double(n)
        }
        guard let d = Double(String(decoding: bytes[start..<i], as: UTF8.self)) else {
            throw fail("a malformed number")
        }
        return d
    }
}
