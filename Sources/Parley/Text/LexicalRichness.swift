/// MTLD as PlatoLM measures it: PyPI `lexicalrichness` (0.5) on each question, averaged. Its tokens
/// and its MTLD both differ from `Similarity.mtld` (PyPI `lexical-diversity`), so the two are kept
/// apart and labelled; figures compare with a paper's only when computed its way.
public enum LexicalRichness {
    /// `lexicalrichness.tokenize`: lower-cased, ASCII digits and dashes (`-`, `–`, `—`) removed,
    /// ASCII punctuation turned into spaces, split on Python's whitespace.
    public static func words(_ text: String) -> [String] {
        var words: [String] = []
        var word = String.UnicodeScalarView()
        for s in text.lowercased().unicodeScalars {
            if ("0"..."9").contains(s) || s == "-" || s == "\u{2013}" || s == "\u{2014}" { continue }
            if isPythonWhitespace(s) || (s.isASCII && asciiPunctuation.contains(UInt8(s.value))) {
                if !word.isEmpty { words.append(String(word)) }
                word = String.UnicodeScalarView()
            } else {
                word.append(s)
            }
        }
        if !word.isEmpty { words.append(String(word)) }
        return words
    }

    /// `LexicalRichness(words).mtld(threshold)`: the mean of a forward and a backward pass. A factor
    /// closes as soon as the type-token ratio is at or below `threshold`, at any length; the stretch
    /// left at the end adds (1 − TTR)/(1 − threshold); a text whose passes close no factor counts one
    /// when no word repeats (MTLD = its length). Nil for a text without words (the package divides by 0).
    public static func mtld(_ words: [String], threshold: Double = 0.72) -> Double? {
        guard !words.isEmpty else { return nil }
        let overallTTR = Double(Set(words).count) / Double(words.count)
        func pass(_ sequence: some Sequence<String>) -> Double {
            var terms = Set<String>()
            var counter = 0
            var factors = 0.0
            var ttr = 0.0
            for w in sequence {
                counter += 1
                terms.insert(w)
                ttr = Double(terms.count) / Double(counter)
                if ttr <= threshold {
                    counter = 0
                    terms.removeAll(keepingCapacity: true)
                    factors += 1
                }
            }
            if counter > 0 { factors += (1 - ttr) / (1 - threshold) }
            if factors == 0 { factors += overallTTR == 1 ? 1 : (1 - overallTTR) / (1 - threshold) }
            return Double(words.count) / factors
        }
        return (pass(words) + pass(words.reversed())) / 2
    }

    /// Python's `string.punctuation`.
    private static let asciiPunctuation = Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".utf8)

    /// `str.split()`'s separators: Unicode White_Space and the ASCII separators 0x1C–0x1F.
    private static func isPythonWhitespace(_ s: Unicode.Scalar) -> Bool {
        s.properties.isWhitespace || (0x1C...0x1F).contains(s.value)
    }
}
