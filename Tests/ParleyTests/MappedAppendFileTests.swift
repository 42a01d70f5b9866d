import Foundation
import XCTest

@testable import Parley

final class MappedAppendFileTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "mapped-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Lines of every length from 1 to 5,000 bytes, so that windows of one page fill up mid-line,
    /// and one line is longer than a window.
    private static let lines: [String] = (0..<60).map { i in
        let n = i == 30 ? 20_000 : (i * 97) % 5_000
        return "{\"n\":\(i),\"x\":\"" + String(repeating: "x", count: n) + "\"}\n"
    }

    private func append(_ lines: [String], to file: MappedAppendFile) throws {
        for line in lines {
            try Array(line.utf8).withUnsafeBufferPointer { try file.append($0) }
        }
    }

    private func contents(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func testLinesAcrossWindowsReadBackWhileOpenAndAfterClose() throws {
        let path = dir + "/journal.jsonl"
        let file = try MappedAppendFile(path: path, windowBytes: 4096)
        try append(Self.lines, to: file)
        let expected = Array(Self.lines.joined().utf8)
        XCTAssertEqual(file.size, expected.count)
        // While open, as after a crash: the lines, then NUL bytes up to the window's end, which a reader
        // takes for a partial last line.
        let live = try contents(path)
        XCTAssertGreaterThan(live.count, expected.count)
        XCTAssertEqual(Array(live.prefix(expected.count)), expected)
        XCTAssertTrue(live.dropFirst(expected.count).allSatisfy { $0 == 0 })
        let reader = try LineReader(path: path)
        var complete: [String] = []
        while let (text, done) = reader.next() {
            if done { complete.append(text + "\n") } else { XCTAssertTrue(text.utf8.allSatisfy { $0 == 0 }) }
        }
        XCTAssertEqual(complete, Self.lines)
        XCTAssertEqual(reader.completeBytes, expected.count)
        try file.close()
        XCTAssertEqual(try contents(path), expected, "close cuts the file back to its lines")
        XCTAssertThrowsError(try append(["late\n"], to: file)) { error in
            XCTAssertTrue("\(error)".contains("closed"), "\(error)")
        }
    }

    /// Pages are made writable a step ahead of the lines, by the caller once it has let its lock go; one step at
    /// a time, lines going on meanwhile, into the next window too (the step's window stays mapped while the step
    /// lives); the lines read back whole.
    func testPagesAreMadeWritableAheadOneStepAtATime() throws {
        #if !os(Linux)
            throw XCTSkip("files are mapped on Linux only")
        #endif
        let path = dir + "/ahead.jsonl"
        let file = try MappedAppendFile(path: path, windowBytes: 1 << 20)
        let line = Array(("{\"x\":\"" + String(repeating: "x", count: 1_000) + "\"}\n").utf8)
        func append() throws -> MappedAppendFile.Ahead? { try line.withUnsafeBufferPointer { try file.append($0) } }
        var first = try append()
        XCTAssertNotNil(first, "a window's first line: a step is due")
        for _ in 0..<1_200 { XCTAssertNil(try append(), "a step is in flight") }  // past its window
        first?.populate()
        first = nil
        var steps = 0
        for _ in 0..<2_000 {
            guard let ahead = try append() else { continue }
            ahead.populate()
            steps += 1
        }
        XCTAssertGreaterThanOrEqual(steps, 2_000 * line.count / (64 << 10) - 2)
        try file.close()
        XCTAssertEqual(try contents(path), Array(repeating: line, count: 3_201).flatMap { $0 })
    }

    func testAReopenedFileAppendsAfterItsLinesAndPlainWritesGiveTheSameBytes() throws {
        let mapped = dir + "/mapped.jsonl"
        let written = dir + "/written.jsonl"
        for path in [mapped, written] {
            let first = try MappedAppendFile(path: path, windowBytes: 4096, mapping: path == mapped)
            try append(Array(Self.lines[..<20]), to: first)
            try first.close()
            let second = try MappedAppendFile(path: path, windowBytes: 4096, mapping: path == mapped)
            XCTAssertEqual(second.size, Array(Self.lines[..<20].joined().utf8).count)
            try append(Array(Self.lines[20...]), to: second)
            try second.close()
        }
        XCTAssertEqual(try contents(mapped), Array(Self.lines.joined().utf8))
        XCTAssertEqual(try contents(written), try contents(mapped))
    }

    /// A journal read as a crash leaves it (the process gone, its file never closed): the replay
    /// stops at the NUL bytes and the resume's cut leaves only whole lines.
    func testAJournalLeftOpenReplaysToItsLastLine() throws {
        let path = dir + "/journal.jsonl"
        let journal = try Journal(path: path)
        var d = Dialogue(seed: Seed(id: "s1", question: "Why?"), messages: [Message(.user, "Why?")])
        d.id = "s1"
        try journal.start(d)
        try journal.message(Message(.assistant, "Because."), index: 1, of: "s1")
        let replay = try JournalReplay.read(path: path, records: nil)
        XCTAssertEqual(replay.unfinished["s1"]?.messages.map(\.content), ["Why?", "Because."])
        XCTAssertEqual(replay.validBytes, journal.size)
        try AppendFile.truncate(path, to: replay.validBytes, claimedBy: path)
        let text = String(decoding: try contents(path), as: UTF8.self)
        XCTAssertEqual(text.split(separator: "\n").count, 2)
        XCTAssertTrue(text.hasSuffix("\n"))
        try journal.close()
    }
}
