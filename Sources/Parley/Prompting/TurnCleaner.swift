import FoundationEssentials

/// Cleans generated text: cut at the first stop sequence (in case the server did not),
/// trim, and drop a speaker label the model repeated ("User: …"). Pure Swift on UTF-8:
/// it runs twice per turn, and Foundation's string search is slow on Linux.
public enum TurnCleaner {
    public static func clean(_ text: String, stops: [String], speaker: Speaker) -> String {
        var t = Substring(text)
        if let cut = stops.compactMap({ firstIndex(of: $0, in: t) }).min() { t = t[..<cut] }
        t = trimmed(t)
        let labels =
            speaker == .user
            ? ["User:", "Human:", "USER:", "[|Human|]"] : ["Assistant:", "ASSISTANT:", "AI:", "[|AI|]"]
        for label in labels where t.hasPrefix(label) {
            t = trimmed(t.dropFirst(label.count))
            break
        }
        return String(t)
    }

    static func trimmed(_ s: Substring) -> Substring { s.trimmingScalars { $0.properties.isWhitespace } }

    /// Where `needle` first occurs in `hay` (byte-wise: valid UTF-8 matches only at scalar starts).
    static func firstIndex(of needle: String, in hay: Substring) -> Substring.Index? {
        let n = needle.utf8
        guard let head = n.first else { return nil }
        let h = hay.utf8
        var i = h.startIndex
        while let found = h[i...].firstIndex(of: head) {
            if h[found...].starts(with: n) { return found }
            i = h.index(after: found)
        }
        return nil
    }
}
