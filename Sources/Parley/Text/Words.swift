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
        scan(text) { out.append($0) }
        return out
    }

    /// Calls `emit` with each token of `text`, in order. Walks the UTF-8 bytes: ASCII
    /// (most text) needs no decoding; other scalars are decoded one at a time.
    @inline(__always)
    static func scan(_ text: String, _ emit: (Token) -> Void) {
        text.withBorrowedUTF8 { bytes in
            var state = ScanState()
            var i = 0
            while i < bytes.count {
                let b = bytes[i]
                if b < 0x80 {
                    i += 1
                    let lower = b >= 0x41 && b <= 0x5A ? b + 32 : b
                    if (lower >= 0x61 && lower <= 0x7A) || (b >= 0x30 && b <= 0x39) {
                        state.letter(UInt32(lower))
                    } else if b == 0x27, state.inWord, state.apostrophe == nil {
                        state.apostrophe = 0x27
                    } else if let t = state.separator() {
                        emit(t)
                    }
                    continue
                }
                let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
                var iterator = bytes[i..<min(i + length, bytes.count)].makeIterator()
                var decoder = UTF8()
                i += length
                guard case .scalarValue(let s) = decoder.decode(&iterator) else {
                    if let t = state.separator() { emit(t) }
                    continue
                }
                if isWordScalar(s) {
                    if s.properties.isIdeographic {
                        if let t = state.separator() { emit(t) }
                        emit(mix(offset, s.value))
                    } else {
                        for l in s.properties.lowercaseMapping.unicodeScalars { state.letter(l.value) }
                    }
                } else if s == "\u{2019}", state.inWord, state.apostrophe == nil {
                    state.apostrophe = s.value
                } else if let t = state.separator() {
                    emit(t)
                }
            }
            if let t = state.separator() { emit(t) }
        }
    }

    /// The word being read: its hash so far, and an apostrophe waiting for a letter.
    private struct ScanState {
        var hash = Words.offset
        var inWord = false
        var apostrophe: UInt32?

        @inline(__always) mutating func letter(_ v: UInt32) {
            if let a = apostrophe {
                hash = mix(hash, a)
                apostrophe = nil
            } else if !inWord {
                hash = Words.offset
                inWord = true
            }
            hash = mix(hash, v)
        }

        /// Ends the word, if one was being read; returns its token.
        @inline(__always) mutating func separator() -> Token? {
            apostrophe = nil
            guard inWord else { return nil }
            inWord = false
            return hash
        }
    }

    /// Whether `needle` occurs in `hay` as a contiguous run of tokens (whole words).
    public static func contains(_ hay: [Words.Token], _ needle: [Words.Token]) -> Bool {
        guard !needle.isEmpty, hay.count >= needle.count else { return false }
        for i in 0...(hay.count - needle.count)
        where hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }

    /// The token of a single lower-case word (for word lists).
    public static func token(_ word: String) -> Token { tokens(word).first ?? 0 }

    public static func count(_ text: String) -> Int { tokens(text).count }

    static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .decimalNumber, .letterNumber, .otherNumber:
            true
        default: false
        }
    }

    fileprivate static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    @inline(__always) fileprivate static func mix(_ h: UInt64, _ v: UInt32) -> UInt64 {
        var h = h
        var x = v
        repeat {
            h = (h ^ UInt64(x & 0xFF)) &* 0x0000_0100_0000_01B3
            x >>= 8
        } while x != 0
        return h
    }

    /// A text reduced for exact-duplicate checks: its words, lower-cased, one space apart.
    public static func normalizedKey(_ text: String) -> UInt64 {
        var h = StableHash()
        scan(text) { h.combine($0) }
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
