import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The promises of Parley's input paths, as checks over arbitrary bytes, for the libFuzzer
/// harnesses of `Tests/fuzz` and the mutation smoke of the unit tests
/// (`@_spi(Fuzzing) import Parley`). Each returns what broke its promise, or nil. Not API.
@_spi(Fuzzing) public enum Fuzzing {
    /// The config parser: a Config, or an error that names at least one problem.
    public static func config(_ bytes: [UInt8]) -> String? {
        do throws(ConfigError) {
            _ = try Config.parse(String(decoding: bytes, as: UTF8.self)).fingerprint
        } catch {
            if error.issues.isEmpty && !error.malformed { return "a config error without a problem" }
        }
        return nil
    }

    /// The JSON parser: a value or an error; a value prints as canonical text that parses back to it.
    public static func json(_ bytes: [UInt8]) -> String? {
        guard let value = try? JSONValue.parse(String(decoding: bytes, as: UTF8.self)) else { return nil }
        let printed = value.canonicalText
        guard let again = try? JSONValue.parse(printed) else { return "canonical text does not parse: \(printed)" }
        return again.canonicalText == printed ? nil : "canonical text is not stable: \(printed)"
    }

    /// The seeds reader: one outcome (a seed or an invalid line) per non-blank line.
    public static func seeds(_ bytes: [UInt8]) -> String? {
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            .filter { !$0.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D } }.count
        return withReader(bytes) { reader in
            let source = SeedSource(reader)
            var outcomes = 0
            while source.next() != nil { outcomes += 1 }
            return outcomes == lines ? nil : "\(outcomes) outcomes for \(lines) non-blank lines"
        }
    }

    /// Journal replay, over `bytes` written to `scratch`: it recovers, or stops with an error
    /// naming the line; when it recovers, the dialogues it counts as ended are exactly those
    /// whose end record survived in the part it keeps.
    public static func journal(_ bytes: [UInt8]) -> String? {
        let outcome = withReader(bytes) { reader in
            Result { try JournalReplay.read(reader, records: CaPORecord.self, corpusKeys: true) }
        }
        let replay: JournalReplay
        switch outcome {
        case .success(let r): replay = r
        case .failure(let error):
            return "\(error)".hasPrefix("journal line ") ? nil : "an error that names no line: \(error)"
        }
        guard replay.validBytes <= bytes.count else { return "kept \(replay.validBytes) of \(bytes.count) bytes" }
        var expected: Set<String> = []
        for line in bytes.prefix(replay.validBytes).split(separator: 0x0A) {
            // A line the replay took as a record that this parser reads otherwise ends the check.
            let parsed = try? JSONValue.parse(String(decoding: line, as: UTF8.self))
            guard case .object(let record)? = parsed else { return nil }
            if record["t"]?.stringValue == "end", let id = record["d"]?.stringValue { expected.insert(id) }
        }
        guard replay.ended == expected else {
            return "ended \(replay.ended.sorted()) but end records for \(expected.sorted())"
        }
        let counted = replay.stats.finished + replay.stats.filtered + replay.stats.failed
        return counted == expected.count ? nil : "counted \(counted) ends for \(expected.count)"
    }

    /// A line reader over the bytes in memory (`fmemopen`: no file system in the loop).
    private static func withReader<T>(_ bytes: [UInt8], _ body: (LineReader) -> T) -> T {
        var copy = bytes
        return copy.withUnsafeMutableBytes { buffer in
            // fmemopen may refuse a zero-length buffer; an empty file reads the same.
            let opened = bytes.isEmpty ? fopen("/dev/null", "r") : fmemopen(buffer.baseAddress, bytes.count, "r")
            guard let stream = opened else { fatalError("cannot open an in-memory stream") }
            let reader = LineReader(stream: stream)
            defer { reader.close() }
            return body(reader)
        }
    }
}
