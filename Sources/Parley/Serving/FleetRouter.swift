import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Chooses the endpoint of a fleet for each request. With affinity, a dialogue's first
/// request picks its home by weighted rendezvous hashing of the dialogue and the endpoints'
/// URLs — so two backends over the same servers agree, and a failed server moves only its
/// own dialogues — unless that home already holds more than `spill` times its weighted share
/// of the active dialogues (consistent hashing with bounded loads); then the least-loaded
/// healthy endpoint takes it. Every later request of the dialogue goes home while home is
/// healthy; when it is not, the dialogue is placed again and stays at its new home.
/// Not thread-safe: its owner locks it.
public struct FleetRouter: Sendable {
    public struct Member: Sendable {
        /// The endpoint's identity in the hash (of its URL).
        public let key: UInt64
        public let weight: Double
        public fileprivate(set) var healthy = true
        /// Active dialogues homed here.
        public fileprivate(set) var dialogues = 0
        /// Dialogues ever homed here.
        public fileprivate(set) var placed = 0
    }

    public private(set) var members: [Member]
    public let routing: Routing
    /// How far above its share an endpoint may be before a new dialogue spills elsewhere.
    public let spill: Double
    /// Dialogues moved because their home was taken out.
    public private(set) var rehomed = 0
    private var homes: [UInt64: Int32] = [:]
    private var active = 0
    private var healthyWeight: Double
    private var nextInTurn = 0
    private let uniform: Bool

    /// - Parameters:
    ///   - urls: the endpoints' identities (base URLs), with their weights.
    ///   - spill: the bounded-load factor (1.25: no endpoint holds more than 1.25× its share).
    public init(_ members: [(url: String, weight: Double)], routing: Routing = .affinity, spill: Double = 1.25) {
        self.members = members.map { Member(key: StableHash.of($0.url), weight: $0.weight) }
        self.routing = routing
        self.spill = spill
        healthyWeight = members.reduce(0) { $0 + $1.weight }
        uniform = Set(members.map(\.weight)).count <= 1
    }

    /// The endpoint for the next request of `dialogue` (a hash of its id).
    public mutating func route(_ dialogue: UInt64) -> Int {
        if members.count == 1 { return 0 }
        if routing == .roundRobin { return inTurn() }
        if let home = homes[dialogue] {
            let i = Int(home)
            if members[i].healthy { return i }
            members[i].dialogues -= 1
            active -= 1
            rehomed += 1
        }
        let i = place(dialogue)
        homes[dialogue] = Int32(i)
        members[i].dialogues += 1
        members[i].placed += 1
        active += 1
        return i
    }

    /// Forgets a dialogue that ended: its home's load goes down.
    public mutating func release(_ dialogue: UInt64) {
        guard let home = homes.removeValue(forKey: dialogue) else { return }
        members[Int(home)].dialogues -= 1
        active -= 1
    }

    /// Takes an endpoint out (its dialogues move on their next request) or back in.
    public mutating func setHealthy(_ i: Int, _ healthy: Bool) {
        guard members[i].healthy != healthy else { return }
        members[i].healthy = healthy
        healthyWeight += healthy ? members[i].weight : -members[i].weight
    }

    private func score(_ dialogue: UInt64, _ i: Int) -> Double {
        let h = SplitMix64.mix(dialogue ^ members[i].key)
        if uniform { return Double(h >> 11) }
        // Weighted rendezvous: -w / ln(u) for u uniform in (0, 1).
        let u = (Double(h >> 11) + 0.5) / 9_007_199_254_740_992
        return -members[i].weight / log(u)
    }

    private func place(_ dialogue: UInt64) -> Int {
        var best = -1
        var bestScore = -Double.infinity
        for i in members.indices where members[i].healthy {
            let s = score(dialogue, i)
            if s > bestScore {
                best = i
                bestScore = s
            }
        }
        // Nothing healthy: the rendezvous choice over all; its request fails and is retried.
        guard best >= 0 else { return members.indices.max { score(dialogue, $0) < score(dialogue, $1) } ?? 0 }
        // At most `spill` × its share, rounded down, but never less than the share itself.
        let share = Double(active + 1) * members[best].weight / max(healthyWeight, .leastNonzeroMagnitude)
        let cap = max(share.rounded(.up), (spill * share).rounded(.down))
        if Double(members[best].dialogues + 1) <= cap { return best }
        var least = best
        var leastLoad = Double.infinity
        for i in members.indices where members[i].healthy {
            let load = Double(members[i].dialogues + 1) / members[i].weight
            if load < leastLoad {
                least = i
                leastLoad = load
            }
        }
        return least
    }

    private mutating func inTurn() -> Int {
        for _ in members.indices {
            nextInTurn = (nextInTurn + 1) % members.count
            if members[nextInTurn].healthy { return nextInTurn }
        }
        return nextInTurn
    }
}
