#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Cleans generated text: cut at the first stop sequence (in case the server did not),
/// trim, and drop a speaker label the model repeated ("User: …"). On the text's UTF-8 bytes, reached once: it runs
/// for every generated message (it was 5% of a zero-latency turn through Substring's generic search and
/// Unicode-aware prefix tests, `perf record` on `ParleyBench overhead`; on the bytes, 1,417 → 418 instructions a
/// message, `benchmarks/callgrind`).
public enum TurnCleaner {
    static let userLabels = ["User:", "Human:", "USER:", "[|Human|]"].map { Array($0.utf8) }
    static let assistantLabels = ["Assistant:", "ASSISTANT:", "AI:", "[|AI|]"].map { Array($0.utf8) }

    public static func clean(_ text: String, stops: [String], speaker: Speaker) -> String {
        let labels = speaker == .user ? userLabels : assistantLabels
        return text.withBorrowedUTF8 { t in
            var end = t.count
            for stop in stops {  // the earliest: each stop is looked for before the one found so far
                if let at = stop.withBorrowedUTF8({ offset(of: $0, in: UnsafeBufferPointer(rebasing: t[..<end])) }) {
                    end = at
                }
            }
            var kept = t.trimmingWhitespace(0..<end)
            if let label = repeatedLabel(UnsafeBufferPointer(rebasing: t[kept]), labels) {
                kept = t.trimmingWhitespace(kept.lowerBound + label..<kept.upperBound)
            }
            // Nothing cut or trimmed (the usual case): the text itself, not a copy.
            if kept == 0..<t.count { return text }
            return String(decoding: UnsafeBufferPointer(rebasing: t[kept]), as: UTF8.self)
        }
    }

    /// The length in bytes of the first of `labels` that `text` begins with, if any.
    private static func repeatedLabel(_ text: UnsafeBufferPointer<UInt8>, _ labels: [[UInt8]]) -> Int? {
        guard let first = text.first, let start = text.baseAddress else { return nil }
        for label in labels where label.count <= text.count && label.first == first {
            let same = label.withUnsafeBufferPointer { l in l.baseAddress.map { memcmp(start, $0, l.count) == 0 } }
            if same == true { return label.count }
        }
        return nil
    }

    /// Where `needle` first occurs in `hay`: `memchr` to each occurrence of the needle's first byte, `memcmp` for
    /// the rest. Byte-wise: a valid UTF-8 needle matches only at the start of a scalar.
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
