/// A key Parley makes itself — an id it issues by counting (a pull ticket, a C handle) or a hash it computed (a
/// message's repeat key) — as a dictionary or set key, hashed by a few multiplies and shifts. The standard library
/// hashes with SipHash, ~100 instructions a key: a request taken through the C pull queue was looked up by ticket
/// and by reply handle six times, and every generated message's repeat key is looked up and inserted once
/// (benchmarks/callgrind). SipHash guards a table against keys chosen to collide; these keys are Parley's own.
package struct OwnKey: Hashable, Sendable {
    package let value: UInt64

    package init(_ value: UInt64) { self.value = value }

    package func hash(into hasher: inout Hasher) { hasher.combine(value) }

    /// What `Dictionary` and `Set` take a key's bucket from (its low bits): SplitMix64's finalizer, so that ids
    /// stepping by 16 or 512 (C handles, and one shard of a handle table) spread over every bucket.
    package func _rawHashValue(seed: Int) -> Int { Int(truncatingIfNeeded: SplitMix64.mix(value)) }
}
