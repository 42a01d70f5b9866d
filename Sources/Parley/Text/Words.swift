/// Word tokens for filters and statistics: maximal runs of letters and digits
/// (Unicode categories L* and N*), lower-cased, joined across an inner apostrophe
/// (`don't`), each Han ideograph a token of its own. The same tokens as Python's
/// `re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text.lower())` on non-CJK text.
/// Tokens are kept as 64-bit hashes of the lower-cased scalars, within one process: measures
/// only compare tokens, and hashing avoids a String per word. Nothing stores a token.
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
                    if let lower = asciiWordByte(b) {
                        // A run of ASCII letters and digits in one loop: most of the text.
                        state.letter(lower)
                        while i < bytes.count, let next = asciiWordByte(bytes[i]) {
                            state.push(next)
                            i += 1
                        }
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
                        emit(ScanState.token(of: s.value))
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

    /// The word being read: its lower-cased scalars' bytes (a scalar's low byte first, through its highest
    /// non-zero one), taken eight at a time into `hash`; an apostrophe waiting for a letter. Eight bytes
    /// are shifted into a register and mixed with one multiplication: FNV-1a's multiplication a byte, and
    /// eight more to add each word to a message's key, made `normalizedKey` of a 105-byte message take
    /// 217 ns, now 137 (a loop over one message; in `perf` of a scripted run the scan is still ~5.5% of the
    /// cycles, mostly the branch at each word's end, which random words mispredict).
    private struct ScanState {
        var hash = Words.offset
        var pending: UInt64 = 0
        var pendingBytes: UInt64 = 0
        var inWord = false
        var apostrophe: UInt32?

        /// Adds a letter (a scalar's value): its bytes, after an apostrophe waiting for it.
        @inline(__always) mutating func letter<Scalar: FixedWidthInteger>(_ v: Scalar) {
            if let a = apostrophe {
                bytes(of: a)
                apostrophe = nil
            }
            inWord = true
            bytes(of: v)
        }

        @inline(__always) private mutating func bytes<Scalar: FixedWidthInteger>(of v: Scalar) {
            var x = v
            repeat {
                push(UInt8(truncatingIfNeeded: x))
                x >>= 8
            } while x != 0
        }

        /// Adds a byte of the word being read.
        @inline(__always) mutating func push(_ b: UInt8) {
            pending = pending << 8 | UInt64(b)
            pendingBytes += 1
            if _slowPath(pendingBytes == 8) {  // a branch: a select put the multiplication on every byte
                hash = Words.fold(hash, pending)
                pending = 0
                pendingBytes = 0
            }
        }

        /// The token of a word of one scalar.
        static func token(of scalar: UInt32) -> Token {
            var word = ScanState()
            word.letter(scalar)
            return word.separator() ?? 0
        }

        /// Ends the word, if one was being read; returns its token.
        @inline(__always) mutating func separator() -> Token? {
            apostrophe = nil
            guard inWord else { return nil }
            inWord = false
            // The count of bytes left over in the top byte: "a" and "\0a" differ, as do 8 bytes and 8 + "\0".
            let token = Words.fold(hash, pending | pendingBytes << 56)
            hash = Words.offset
            pending = 0
            pendingBytes = 0
            return token
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

    /// `b` lower-cased when it is an ASCII letter or digit; nil otherwise.
    @inline(__always) private static func asciiWordByte(_ b: UInt8) -> UInt8? {
        let lower = b | 0x20
        if lower >= 0x61 && lower <= 0x7A { return lower }
        if b >= 0x30 && b <= 0x39 { return b }
        return nil
    }

    static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .decimalNumber, .letterNumber, .otherNumber:
            true
        default: false
        }
    }

    fileprivate static let offset: UInt64 = 0xcbf2_9ce4_8422_2325

    /// Mixes eight bytes into a hash (FxHash's step: rotate, xor, multiply by an odd constant). A word of up
    /// to seven bytes is one step from `offset`, a bijection: no two such words share a token.
    @inline(__always) fileprivate static func fold(_ h: UInt64, _ x: UInt64) -> UInt64 {
        ((h << 5 | h >> 59) ^ x) &* 0x517C_C1B7_2722_0A95
    }

    /// A text reduced for exact-duplicate checks: its words, lower-cased, one space apart.
    public static func normalizedKey(_ text: String) -> UInt64 {
        var h = offset
        scan(text) { h = fold(h, $0) }
        return SplitMix64.mix(h)
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
