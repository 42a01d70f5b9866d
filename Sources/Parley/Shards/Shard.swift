/// One of `count` disjoint parts of a seed set (`run.shard`, `--shard K/N`, 1 ≤ K ≤ N).
///
/// A seed's shard is a stable hash of its id alone, so every seed belongs to exactly one
/// shard whatever the file order, the concurrency or the machine, and adding seeds never
/// moves others. Each shard reads the whole seeds file and keeps its own seeds.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 1-based: shard `index` of `count`.
    public let index: Int
    public let count: Int

    public init?(index: Int, count: Int) {
        guard count >= 1, (1...count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// "K/N", as `--shard` and `run.shard` write it.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else { return nil }
        self.init(index: k, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// The shard (1-based, of `count`) that a key hashes to.
    static func number(of key: UInt64, count: Int) -> Int {
        Int(key % UInt64(count)) + 1
    }

    /// Whether a seeds-file line belongs to this shard. A line that is not a usable seed has
    /// no id: its line number decides, so that exactly one shard reports it.
    func owns(_ item: Result<Seed, SeedError>) -> Bool {
        switch item {
        case .success(let seed): Self.number(of: seed.shardKey, count: count) == index
        case .failure(let error): Self.number(of: StableHash.of("line", String(error.line)), count: count) == index
        }
    }
}

extension Seed {
    /// What decides the seed's shard: the id the seeds file gives it; for a seed without one,
    /// its content (its derived id names its line, and lines move when a file is shuffled).
    public var shardKey: UInt64 {
        if id != Seed.derivedID(line: line, question: question, answer: answer, topic: topic) {
            return StableHash.of("id", id)
        }
        return StableHash.of("content", question ?? "\u{0}", answer ?? "\u{0}", topic ?? "\u{0}")
    }
}
