import XCTest

@testable import Parley

final class OwnKeyTests: XCTestCase {
    /// Ids as Parley issues them (tickets from 1; C handles from a high base, stepping by 16, and by 512 within
    /// one shard of a handle table) are found, replaced and removed like any keys.
    func testOwnKeysAreDictionaryKeys() {
        for (base, step) in [(UInt64(1), UInt64(1)), (0x7C00_0000_0000, 16), (0x7C00_0000_0000, 512)] {
            let ids = (0..<5_000).map { OwnKey(base + $0 * step) }
            var table: [OwnKey: Int] = [:]
            for (i, id) in ids.enumerated() { table[id] = i }
            XCTAssertEqual(table.count, ids.count)
            for (i, id) in ids.enumerated() { XCTAssertEqual(table[id], i) }
            XCTAssertNil(table[OwnKey(base + 5_000 * step)])
            for id in ids.prefix(2_500) { XCTAssertNotNil(table.removeValue(forKey: id)) }
            XCTAssertEqual(Set(table.values), Set(2_500..<5_000))
        }
    }

    /// A dictionary takes a key's bucket from its hash's low bits: ids stepping by 512 still spread over them.
    func testIdsThatStepByPowersOfTwoSpreadOverBuckets() {
        for step in [UInt64(1), 16, 512] {
            let ids = (0..<1_024).map { OwnKey(0x7C00_0000_0000 + $0 * step) }
            let buckets = Set(ids.map { $0._rawHashValue(seed: 0) & 1_023 })
            XCTAssertGreaterThan(buckets.count, 600, "step \(step)")
        }
    }
}
