import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Cleans generated text: cut at the first stop sequence (in case the server did not),
/// trim, and drop a speaker label the model repeated ("User: …"). Byte-wise on UTF-8, with
/// ASCII fast paths: it runs for every generated message (it was 5% of a zero-latency turn
/// through Substring's generic search and Unicode-aware prefix tests; `perf record` on
/// `ParleyBench overhead`).
public enum TurnCleaner {
    static let userLabels = ["User:", "Human:", "USER:", "[|Human|]"].map { Array($0.utf8) }
    static let assistantLabels = ["Assistant:", "ASSISTANT:", "AI:", "[|AI|]"].map { Array($0.utf8) }

    public static func clean(_ text: String, stops: [String], speaker: Speaker) -> String {
        var t = Substring(text)
        var cut: Substring.Index?  // the earliest stop (a loop: compactMap made an array per message)
        for stop in stops {
            if let at = firstIndex(of: stop, in: t), cut.map({ at < $0 }) ?? true { cut = at }
        }
        if let cut { t = t[..<cut] }
        t = trimmed(t)
        if let label = repeatedLabel(t, speaker == .user ? userLabels : assistantLabels) {
            t = trimmed(t[t.utf8.index(t.startIndex, offsetBy: label)...])
        }
        // Nothing cut or trimmed (the usual case): the text itself, not a copy.
        return t.startIndex == text.startIndex && t.endIndex == text.endIndex ? text : String(t)
    }

    /// Whitespace trimmed from both ends: ASCII whitespace byte-wise, then, only when a
    /// non-ASCII character is left at an end, by Unicode's White_Space property.
    static func trimmed(_ s: Substring) -> Substring {
        let u = s.utf8
        var lower = u.startIndex
        var upper = u.endIndex
        while lower < upper, isASCIIWhitespace(u[lower]) { lower = u.index(after: lower) }
        while lower < upper, isASCIIWhitespace(u[u.index(before: upper)]) { upper = u.index(before: upper) }
        let t = s[lower..<upper]
        guard let first = t.utf8.first, let last = t.utf8.last, first >= 0x80 || last >= 0x80 else { return t }
        return t.trimmingScalars { $0.properties.isWhitespace }
    }

    /// Space, tab, line feed, vertical tab, form feed, carriage return: Unicode's White_Space in ASCII.
    private static func isASCIIWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }

    /// Where `needle` first occurs in `hay`. Byte-wise: a valid UTF-8 needle matches only at
    /// the start of a scalar.
    static func firstIndex(of needle: String, in hay: Substring) -> Substring.Index? {
        let offset = needle.withBorrowedUTF8 { n in hay.withBorrowedUTF8 { h in Self.offset(of: n, in: h) } }
        return offset.map { hay.utf8.index(hay.startIndex, offsetBy: $0) }
    }

    /// The length in bytes of the first of `labels` that `text` begins with, if any: the text's bytes are
    /// reached once for all the labels (`utf8.starts(with:)` went a byte at a time through the generic
    /// collection path, and a `withUTF8` per label cost 650 instructions a message, benchmarks/callgrind).
    static func repeatedLabel(_ text: Substring, _ labels: [[UInt8]]) -> Int? {
        text.withBorrowedUTF8 { t in
            guard let first = t.first, let start = t.baseAddress else { return nil }
            for label in labels where label.count <= t.count && label.first == first {
                let same = label.withUnsafeBufferPointer { l in l.baseAddress.map { memcmp(start, $0, l.count) == 0 } }
                if same == true { return label.count }
            }
            return nil
        }
    }

    /// `memchr` to each occurrence of the needle's first byte, `memcmp` for the rest.
    private static func offset(of needle: UnsafeBufferPointer<UInt8>, in hay: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let first = needle.first, needle.count <= hay.count, let h = hay.baseAddress, let n = needle.baseAddress
        else { return nil }
        let lastStart = hay.count - needle.count
        var i = 0
        while i <= lastStart, let p = memchr(h + i, Int32(first), lastStart - i + 1) {
            let at = UnsafeRawPointer(p) - UnsafeRawPointer(h)
            if memcmp(h + at, n, needle.count) == 0 { return at }
            i = at + 1
        }
        return nil
    }
}
