import XCTest
@testable import Parley
final class SmokeTests: XCTestCase { func testVersion() { XCTAssertFalse(ParleyVersion.string.isEmpty) } }
