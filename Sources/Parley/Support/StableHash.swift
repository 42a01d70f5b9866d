/// Deterministic hashing and randomness. Swift's `Hasher` is seeded per process,
/// so everything that must be reproducible (dialogue ids, scripted text, sampled
/// turn counts, request seeds) goes through these instead.
public struct StableHash: Sendable {
    private(set) var state: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a 64 offset basis

    public init() {}

    public mutating func combine(_ s: String) {
        // Over the contiguous bytes: `s.utf8`'s iterator cost several times as much a byte, and every
        // request hashes its dialogue's id (benchmarks/callgrind).
        state = s.withBorrowedUTF8 { bytes in
            var state = self.state
            for byte in bytes { state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            return state
        }
        state = (state ^ 0xFF) &* 0x0000_0100_0000_01B3  // field separator
    }

    public mutating func combine(_ n: UInt64) {
        var x = n
        for _ in 0..<8 {
            state = (state ^ (x & 0xFF)) &* 0x0000_0100_0000_01B3
            x >>= 8
        }
    }

    public mutating func combine(_ n: Int) { combine(UInt64(bitPattern: Int64(n))) }

    /// The final value, mixed so that nearby inputs give unrelated outputs.
    public var value: UInt64 { SplitMix64.mix(state) }

    /// `value` as 16 hex digits: ids and fingerprints.
    public var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    public static func of(_ parts: String...) -> UInt64 {
        var h = StableHash()
        for p in parts { h.combine(p) }
        return h.value
    }
}

/// SplitMix64: a tiny, good-quality deterministic generator.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
