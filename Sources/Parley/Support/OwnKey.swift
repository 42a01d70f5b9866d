/// An id Parley issues by counting (a pull ticket, a C handle) as a dictionary key, hashed by a few multiplies and
/// shifts. The standard library hashes with SipHash, ~100 instructions a key, and a request taken through the C
/// pull queue was looked up by ticket and by reply handle six times (benchmarks/callgrind). SipHash guards a
/// table against keys chosen to collide; these keys are Parley's own.
package struct CountedID: Hashable, Sendable {
    package let value: UInt64

    package init(_ value: UInt64) { self.value = value }

    package func hash(into hasher: inout Hasher) { hasher.combine(value) }

    /// What `Dictionary` and `Set` take a key's bucket from (its low bits): SplitMix64's finalizer, so that ids
    /// stepping by 16 or 512 (C handles, and one shard of a handle table) spread over every bucket.
    package func _rawHashValue(seed: Int) -> Int { Int(truncatingIfNeeded: SplitMix64.mix(value)) }
}
