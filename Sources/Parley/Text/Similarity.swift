/// Text measures over word tokens (see `Words`).
public enum Similarity {
    /// ROUGE-L F1 (β = 1) between two token sequences: the longest common subsequence
    /// over the lengths (recall against `a`, precision against `b`); 0 when either is empty.
    public static func rougeL(_ a: [Words.Token], _ b: [Words.Token]) -> Double {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        let lcs = longestCommonSubsequence(a, b)
        guard lcs > 0 else { return 0 }
        let recall = Double(lcs) / Double(a.count), precision = Double(lcs) / Double(b.count)
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

    /// MTLD (McCarthy & Jarvis 2010), as the `lexical-diversity` package computes it:
    /// the mean of a forward and a backward pass; each pass counts factors (stretches
    /// whose type-token ratio falls to `threshold`) plus a partial factor for the rest.
    /// nil when undefined (no factor at all: an empty or all-distinct short text).
    public static func mtld(_ tokens: [Words.Token], threshold: Double = 0.72) -> Double? {
        guard let forward = mtldPass(tokens, threshold), let backward = mtldPass(tokens.reversed(), threshold) else { return nil }
        return (forward + backward) / 2
    }

    private static func mtldPass(_ tokens: some Collection<Words.Token>, _ threshold: Double) -> Double? {
        var types = Set<Words.Token>()
        var count = 0
        var factors = 0.0
        var ttr = 1.0
        for t in tokens {
            count += 1
            types.insert(t)
            ttr = Double(types.count) / Double(count)
            if ttr <= threshold {
                factors += 1
                types.removeAll(keepingCapacity: true)
                count = 0
                ttr = 1
            }
        }
        factors += (1 - ttr) / (1 - threshold)
        return factors == 0 ? nil : Double(tokens.count) / factors
    }
}
