import Foundation
@_spi(Fuzzing) import Parley

/// The seeds reader: any file gives seeds and invalid lines, one outcome per non-blank line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    // Non-blank lines as the reader sees them (a last line may lack its newline).
    let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        .filter { !$0.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D } }
    do {
        let counts = try Fuzzing.readSeeds(path: path)
        precondition(counts.seeds + counts.invalid == lines.count, "\(counts) for \(lines.count) non-blank lines")
    } catch {
        precondition(lines.isEmpty, "an error other than an empty file: \(error)")
    }
    return 0
}

private let path = NSTemporaryDirectory() + "parley-fuzz-seeds-\(getpid()).jsonl"
