import Foundation
@_spi(Fuzzing) import Parley

/// Journal replay over truncated, bit-flipped and duplicated journals: a resume either
/// recovers or stops with an error naming the line; when it recovers, the dialogues it counts
/// as ended are exactly those whose end record survived in the part it keeps, each once.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    switch Fuzzing.replayJournal(path: path) {
    case .failure(let error):
        precondition("\(error)".hasPrefix("journal line "), "an error that names no line: \(error)")
    case .success(let (ended, validBytes)):
        precondition(validBytes <= size)
        var expected: Set<String> = []
        for line in bytes.prefix(validBytes).split(separator: 0x0A) {
            // Lines the replay took are records; one this parser reads otherwise ends the check.
            guard case .object(let record)? = try? JSONValue.parse(String(decoding: line, as: UTF8.self)) else { return 0 }
            if record["t"]?.stringValue == "end", let id = record["d"]?.stringValue { expected.insert(id) }
        }
        precondition(ended == expected, "ended \(ended.sorted()) but end records for \(expected.sorted())")
    }
    return 0
}

private let path = NSTemporaryDirectory() + "parley-fuzz-journal-\(getpid()).jsonl"
