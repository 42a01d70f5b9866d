/// Word tokens for filters and statistics: maximal runs of letters and digits
/// (Unicode categories L* and N*), lower-cased, joined across an inner apostrophe
/// (`don't`), each Han ideograph a token of its own. The same tokens as Python's
/// `re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text.lower())` on non-CJK text.
/// Tokens are kept as 64-bit hashes (FNV-1a of the lower-cased scalars): measures
/// only compare tokens, and hashing avoids a String per word.
public enum Words {
    public typealias Token = UInt64

    public static func tokens(_ text: String) -> [Token] {
        var out: [Token] = []
        out.reserveCapacity(text.utf8.count / 5)
        var h = offset
        var inWord = false
        var apostrophe: Unicode.Scalar?  // seen just after a word: joins only if a letter follows
        for s in text.unicodeScalars {
            if s.value < 0x80 {
                let v = s.value
                let lower = v >= 0x41 && v <= 0x5A ? v + 32 : v
                if (lower >= 0x61 && lower <= 0x7A) || (v >= 0x30 && v <= 0x39) {
                    if let a = apostrophe { h = mix(h, a.value); apostrophe = nil } else if !inWord { h = offset; inWord = true }
                    h = mix(h, lower)
                    continue
                }
                if v == 0x27, inWord, apostrophe == nil { apostrophe = s; continue }
            } else if isWordScalar(s) {
                if s.properties.isIdeographic {
                    if inWord { out.append(h); inWord = false }
                    apostrophe = nil
                    out.append(mix(offset, s.value))
                    continue
                }
                if let a = apostrophe { h = mix(h, a.value); apostrophe = nil } else if !inWord { h = offset; inWord = true }
                for l in s.properties.lowercaseMapping.unicodeScalars { h = mix(h, l.value) }
                continue
            } else if s == "\u{2019}", inWord, apostrophe == nil { apostrophe = s; continue }
            if inWord { out.append(h); inWord = false }
            apostrophe = nil
        }
        if inWord { out.append(h) }
        return out
    }

    /// The token of a single lower-case word (for word lists).
    public static func token(_ word: String) -> Token { tokens(word).first ?? 0 }

    public static func count(_ text: String) -> Int { tokens(text).count }

    static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber: true
        default: false
        }
    }

    private static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    @inline(__always) private static func mix(_ h: UInt64, _ v: UInt32) -> UInt64 {
        var h = h
        var x = v
        repeat { h = (h ^ UInt64(x & 0xFF)) &* 0x0000_0100_0000_01B3; x >>= 8 } while x != 0
        return h
    }

    /// A text reduced for exact-duplicate checks: its words, lower-cased, one space apart.
    public static func normalizedKey(_ text: String) -> UInt64 {
        var h = StableHash()
        for t in tokens(text) { h.combine(t) }
        return h.value
    }
}

/// English function words, left out where only content words count (topic shifts).
enum Stopwords {
    static let list = """
        a about above after again against all am an and any are as at be because been before being below between \
        both but by can could did do does doing down during each few for from further had has have having he her \
        here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not \
        now of off on once only or other our ours ourselves out over own same she should so some such than that the \
        their theirs them themselves then there these they this those through to too under until up very was we were \
        what when where which while who whom why will with would you your yours yourself yourselves also can't \
        don't i'm it's let's please tell give show explain know want like make get use could would
        """
    static let tokens: Set<Words.Token> = Set(list.split(separator: " ").map { Words.token(String($0)) })
}
