/// Text measures over word tokens (see `Words`).
public enum Similarity {
    /// ROUGE-L F1 (β = 1) between two token sequences: the longest common subsequence
    /// over the lengths (recall against `a`, precision against `b`); 0 when either is empty.
    public static func rougeL(_ a: [Words.Token], _ b: [Words.Token]) -> Double {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        let lcs = longestCommonSubsequence(a, b)
        guard lcs > 0 else { return 0 }
        let recall = Double(lcs) / Double(a.count)
        let precision = Double(lcs) / Double(b.count)
        return 2 * precision * recall / (precision + recall)
    }

    public static func rougeL(_ a: String, _ b: String) -> Double { rougeL(Words.tokens(a), Words.tokens(b)) }

    static func longestCommonSubsequence(_ a: [Words.Token], _ b: [Words.Token]) -> Int {
        let (long, short) = a.count >= b.count ? (a, b) : (b, a)
        var row = [Int](repeating: 0, count: short.count + 1)
        for x in long {
            var diagonal = 0
            for j in 0..<short.count {
                let above = row[j + 1]
                row[j + 1] = x == short[j] ? diagonal + 1 : max(above, row[j])
                diagonal = above
            }
        }
        return row[short.count]
    }

    /// MTLD (McCarthy & Jarvis 2010) exactly as the `lexical-diversity` package computes it
    /// (`lex_div.mtld`): the mean of a forward and a backward pass. A pass closes a factor
    /// where a stretch of at least `minFactor` tokens has a type-token ratio below
    /// `threshold`; the stretch that ends the text adds a partial factor (1 − TTR)/(1 − threshold).
    /// MTLD = tokens / factors; nil when there is no factor at all (no token repeats).
    public static func mtld(_ tokens: [Words.Token], threshold: Double = 0.72, minFactor: Int = 10) -> Double? {
        let forward = mtldPass(tokens, threshold, minFactor)
        let backward = mtldPass(tokens.reversed(), threshold, minFactor)
        guard forward > 0 else { return nil }
        return (forward + backward) / 2
    }

    private static func mtldPass(_ tokens: some Collection<Words.Token>, _ threshold: Double, _ minFactor: Int)
        -> Double
    {
        var types = Set<Words.Token>()
        var length = 0
        var factors = 0.0
        for (i, t) in tokens.enumerated() {
            types.insert(t)
            length += 1
            let ttr = Double(types.count) / Double(length)
            if i + 1 == tokens.count {
                factors += (1 - ttr) / (1 - threshold)
            } else if ttr < threshold && length >= minFactor {
                factors += 1
                types.removeAll(keepingCapacity: true)
                length = 0
            }
        }
        return factors == 0 ? 0 : Double(tokens.count) / factors
    }
}
