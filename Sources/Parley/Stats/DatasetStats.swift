/// The corpus statistics of one dataset (Parrot's Table 1, PlatoLM's corpus metrics, Self-talk's
/// diversity), accumulated one dialogue at a time in memory bounded by the number of distinct
/// lengths, n-grams and the samples — never by the number of dialogues.
///
/// The measures of the simulator's questions (Self-ROUGE, MTLD per question, and the question
/// sample the embeddings see) take only the user turns a model wrote, not those a seed gave,
/// unless `includeSeeds`.
public struct DatasetStats: Sendable {
    public var name: String
    public var path: String
    public var shape: DatasetShape?
    public var dialogues = 0
    public var skipped = 0
    /// Value → count: user turns per dialogue, words per user turn, per assistant turn, per dialogue.
    public var turns = Histogram()
    public var userWords = Histogram()
    public var assistantWords = Histogram()
    public var dialogueWords = Histogram()
    /// Sum and count of the per-dialogue MTLD of the user turns (where it is defined).
    public var mtldSum = 0.0
    public var mtldCount = 0
    /// Sum and count of PlatoLM's MTLD per question (`LexicalRichness`, where it is defined).
    public var questionMTLDSum = 0.0
    public var questionMTLDCount = 0
    /// Distinct n-grams of the user turns, and of whole dialogues (every message but the system's).
    public private(set) var userNGrams = DistinctNGrams()
    public private(set) var dialogueNGrams = DistinctNGrams()
    /// User turns after the first, those the detector flags, and topic shifts.
    public var followUps = 0
    public var contextDependent = 0
    public var topicShifts = 0
    /// Bottom-k samples (by a stable hash): dialogues, for the model-based measures and dialogue
    /// diversity, and questions, for Self-ROUGE and the question embeddings.
    private var sample: [(key: UInt64, value: DatasetRow)] = []
    private var questionSample: [(key: UInt64, value: SampledQuestion)] = []
    public let sampleSize: Int
    public let includeSeeds: Bool
    /// Dialogues compared pairwise for dialogue diversity (whole dialogues make ROUGE-L costly).
    public static let diversitySample = 100

    struct SampledQuestion: Sendable {
        var text: String
        var tokens: [Words.Token]
    }

    public init(name: String, path: String, sampleSize: Int = 1000, includeSeeds: Bool = false) {
        self.name = name
        self.path = path
        self.sampleSize = sampleSize
        self.includeSeeds = includeSeeds
    }

    public mutating func add(_ messages: [Message]) {
        add(DatasetRow(messages: messages))
    }

    public mutating func add(_ row: DatasetRow) {
        var userTokens: [Words.Token] = []
        var userTurns = 0
        var total = 0
        var previous: [Words.Token] = []  // the last exchange's words
        for (index, m) in row.messages.enumerated() where m.speaker != .system {
            let t = Words.tokens(m.content)
            total += t.count
            dialogueNGrams.add(t)
            guard m.speaker == .user else {
                assistantWords.add(t.count)
                previous += t
                continue
            }
            userWords.add(t.count)
            userTokens += t
            userNGrams.add(t)
            if includeSeeds || index >= row.seedMessages {
                keepInQuestionSample(SampledQuestion(text: m.content, tokens: t), turn: userTurns)
                if let m = LexicalRichness.mtld(LexicalRichness.words(m.content)) {
                    questionMTLDSum += m
                    questionMTLDCount += 1
                }
            }
            if userTurns > 0 {
                followUps += 1
                if FollowUps.contextCue(t) != nil {
                    contextDependent += 1
                } else if FollowUps.shiftsTopic(t, after: previous) {
                    topicShifts += 1
                }
            }
            userTurns += 1
            previous = t
        }
        dialogues += 1
        turns.add(userTurns)
        dialogueWords.add(total)
        if let m = Similarity.mtld(userTokens) {
            mtldSum += m
            mtldCount += 1
        }
        var h = StableHash()
        h.combine(dialogues)
        for m in row.messages { h.combine(m.content) }
        sample.append((h.value, row))
        if sample.count >= 2 * sampleSize { Self.trim(&sample, to: sampleSize) }
    }

    /// Bottom-k sampling by a hash of the turn and its position: deterministic, independent of
    /// the dataset's shape, and bounded.
    private mutating func keepInQuestionSample(_ question: SampledQuestion, turn: Int) {
        var h = StableHash()
        h.combine(dialogues)
        h.combine(turn)
        for t in question.tokens { h.combine(t) }
        questionSample.append((h.value, question))
        if questionSample.count >= 2 * sampleSize { Self.trim(&questionSample, to: sampleSize) }
    }

    private static func trim<T>(_ sample: inout [(key: UInt64, value: T)], to size: Int) {
        sample.sort { $0.key < $1.key }
        if sample.count > size { sample.removeLast(sample.count - size) }
    }

    /// The first `n` dialogues of the sample, for the model-based measures.
    public mutating func sampledDialogues(_ n: Int) -> [DatasetRow] {
        Self.trim(&sample, to: sampleSize)
        return sample.prefix(n).map(\.value)
    }

    /// The sampled questions, for PlatoLM's topic similarity over question embeddings.
    public mutating func sampledQuestions() -> [String] {
        Self.trim(&questionSample, to: sampleSize)
        return questionSample.map(\.value.text)
    }

    public var mtld: Double? { mtldCount == 0 ? nil : mtldSum / Double(mtldCount) }
    public var questionMTLD: Double? { questionMTLDCount == 0 ? nil : questionMTLDSum / Double(questionMTLDCount) }

    /// Mean pairwise ROUGE-L F between the sampled questions: how much the simulator repeats
    /// itself across dialogues (Parrot's Table 1).
    public mutating func selfRouge() -> PairwiseROUGE {
        Self.trim(&questionSample, to: sampleSize)
        return PairwiseROUGE(questionSample.map(\.value.tokens))
    }

    /// Self-talk's dialogue diversity: 1 − this, the mean pairwise ROUGE-L F between whole dialogues
    /// (every message but the system's), over the first `diversitySample` dialogues of the sample.
    public mutating func dialogueROUGE() -> PairwiseROUGE {
        let rows = sampledDialogues(Self.diversitySample)
        return PairwiseROUGE(
            rows.map { row in row.messages.filter { $0.speaker != .system }.flatMap { Words.tokens($0.content) } })
    }
}

/// The mean ROUGE-L F1 over every pair of a set of token sequences (nil for fewer than two).
public struct PairwiseROUGE: Sendable {
    public var mean: Double?
    public var items: Int
    public var pairs: Int

    init(_ items: [[Words.Token]]) {
        let n = items.count
        self.items = n
        pairs = n * (n - 1) / 2
        guard n >= 2 else { return }
        var sum = 0.0
        for i in 0..<n {
            for j in (i + 1)..<n { sum += Similarity.rougeL(items[i], items[j]) }
        }
        mean = sum / Double(pairs)
    }
}

/// distinct-1 and distinct-2 (unique over all n-grams) of a stream of token sequences; n-grams
/// do not cross sequences. Kept as 64-bit hashes.
public struct DistinctNGrams: Sendable {
    private var unigrams = Set<UInt64>()
    private var bigrams = Set<UInt64>()
    public private(set) var unigramTotal = 0
    public private(set) var bigramTotal = 0

    mutating func add(_ t: [Words.Token]) {
        unigrams.formUnion(t)
        unigramTotal += t.count
        guard t.count > 1 else { return }
        for i in 1..<t.count { bigrams.insert(t[i - 1] &* 0x9E37_79B9_7F4A_7C15 ^ t[i]) }
        bigramTotal += t.count - 1
    }

    public var distinct1: Double { unigramTotal == 0 ? 0 : Double(unigrams.count) / Double(unigramTotal) }
    public var distinct2: Double { bigramTotal == 0 ? 0 : Double(bigrams.count) / Double(bigramTotal) }
}

/// Counts per integer value: exact medians and percentiles in memory bounded by the
/// number of distinct values.
public struct Histogram: Sendable, Equatable {
    public private(set) var counts: [Int: Int] = [:]
    public private(set) var total = 0
    public private(set) var sum = 0

    public init() {}

    public mutating func add(_ value: Int, times: Int = 1) {
        counts[value, default: 0] += times
        total += times
        sum += value * times
    }

    public mutating func merge(_ other: Histogram) { for (v, c) in other.counts { add(v, times: c) } }

    public var mean: Double { total == 0 ? 0 : Double(sum) / Double(total) }

    /// The value of 0-based rank `k` in sorted order.
    func value(atRank k: Int) -> Int {
        var seen = 0
        for v in counts.keys.sorted() {
            seen += counts[v]!
            if seen > k { return v }
        }
        return 0
    }

    /// The middle value; of an even count, the mean of the two middle values.
    public var median: Double {
        guard total > 0 else { return 0 }
        return Double(value(atRank: (total - 1) / 2) + value(atRank: total / 2)) / 2
    }

    /// Nearest-rank percentile: the value at rank ⌈p·n⌉ − 1.
    public func percentile(_ p: Double) -> Double {
        guard total > 0 else { return 0 }
        return Double(value(atRank: max(0, Int((p * Double(total)).rounded(.up)) - 1)))
    }

    /// Counts in the bins that start at `bounds` (each bin runs to the next bound).
    public func binned(_ bounds: [Int]) -> [Int] {
        var bins = [Int](repeating: 0, count: bounds.count)
        for (v, c) in counts {
            if let i = bounds.lastIndex(where: { $0 <= v }) { bins[i] += c }
        }
        return bins
    }
}

extension DatasetStats {
    /// Reads a whole dataset file. `progress` is called every 1000 rows with the rows read.
    /// Throws for an unreadable file, or rows none of which has a known shape.
    public static func of(
        path: String, name: String, shape: DatasetShape? = nil, sampleSize: Int = 1000, includeSeeds: Bool = false,
        progress: (Int) -> Void = { _ in }
    ) throws -> DatasetStats {
        let reader = try DatasetReader(path: path, shape: shape)
        var stats = DatasetStats(name: name, path: path, sampleSize: sampleSize, includeSeeds: includeSeeds)
        while let row = reader.next() {
            stats.add(row)
            if reader.rowsRead % 1000 == 0 { progress(reader.rowsRead) }
        }
        progress(reader.rowsRead)
        if reader.shape == nil && reader.rowsRead > 0 {
            throw RunError.io("\(path): no row is a dialogue in a known shape (sharegpt, messages, ultrachat, baize)")
        }
        stats.shape = reader.shape
        stats.skipped = reader.skipped
        return stats
    }
}
