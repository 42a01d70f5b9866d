/// Reads a JSON config tree while recording every problem with its exact path,
/// so validation can report all errors at once (`roles.asker.max_tokens: expected
/// a positive integer, got "ten"`) and reject unknown keys with a suggestion.
final class ConfigReader {
    private(set) var issues: [ConfigIssue] = []
    /// The paths of the operational fields read (see `FieldUse`).
    fileprivate(set) var operationalPaths: Set<String> = []

    func report(_ path: String, _ message: String) { issues.append(ConfigIssue(path: path, message: message)) }

    /// An object at `path`, or nil (reported) when the value is something else.
    func object(_ value: JSONValue?, at path: String) -> ObjectReader? {
        guard let value else { return nil }
        guard case .object(let fields) = value else {
            report(path, "expected an object, got \(value.shortDescription)")
            return nil
        }
        return ObjectReader(reader: self, path: path, fields: fields)
    }
}

/// What a field's value is for, declared where the field is read: part of what a run makes
/// (`defining`: in `Config.fingerprint`, so a run directory refuses to resume under another
/// value) or only of how it runs — where it writes, how fast, on which servers (`operational`:
/// free to change between resumes).
enum FieldUse {
    case defining
    case operational
}

public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// The fields of one JSON object. Every key read is marked used; `finish()`
/// reports the rest as unknown.
final class ObjectReader {
    let reader: ConfigReader
    let path: String
    let fields: [String: JSONValue]
    private var used: Set<String> = []

    init(reader: ConfigReader, path: String, fields: [String: JSONValue]) {
        self.reader = reader
        self.path = path
        self.fields = fields
    }

    func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw value of `key`, or nil when absent or null.
    func raw(_ key: String, _ use: FieldUse = .defining) -> JSONValue? {
        used.insert(key)
        if use == .operational { reader.operationalPaths.insert(childPath(key)) }
        if case .null? = fields[key] { return nil }
        return fields[key]
    }

    func has(_ key: String) -> Bool { raw(key) != nil }

    private func fail(_ key: String, _ expected: String, _ got: JSONValue) {
        reader.report(childPath(key), "expected \(expected), got \(got.shortDescription)")
    }

    func string(_ key: String, nonEmpty: Bool = false, _ use: FieldUse = .defining) -> String? {
        guard let v = raw(key, use) else { return nil }
        guard case .string(let s) = v, !(nonEmpty && s.isEmpty) else {
            fail(key, nonEmpty ? "a non-empty string" : "a string", v)
            return nil
        }
        return s
    }

    func bool(_ key: String, _ use: FieldUse = .defining) -> Bool? {
        guard let v = raw(key, use) else { return nil }
        guard case .bool(let b) = v else {
            fail(key, "true or false", v)
            return nil
        }
        return b
    }

    func int(_ key: String, min: Int = 1, max: Int = Int(Int32.max), _ use: FieldUse = .defining) -> Int? {
        guard let v = raw(key, use) else { return nil }
        guard case .number(let n) = v, n == n.rounded(), n >= Double(min), n <= Double(max) else {
            fail(key, ConfigReader.describeInt(min: min, max: max), v)
            return nil
        }
        return Int(n)
    }

    func double(
        _ key: String, min: Double = 0, max: Double = .greatestFiniteMagnitude, _ use: FieldUse = .defining
    ) -> Double? {
        guard let v = raw(key, use) else { return nil }
        guard case .number(let n) = v, n >= min, n <= max else {
            let range =
                max == .greatestFiniteMagnitude
                ? "a number ≥ \(min.formatted)" : "a number in \(min.formatted)…\(max.formatted)"
            fail(key, range, v)
            return nil
        }
        return n
    }

    func strings(_ key: String) -> [String]? {
        guard let v = raw(key) else { return nil }
        guard case .array(let items) = v else {
            fail(key, "an array of strings", v)
            return nil
        }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else {
                reader.report("\(childPath(key))[\(i)]", "expected a string, got \(item.shortDescription)")
                return nil
            }
            out.append(s)
        }
        return out
    }

    /// An integer or a `[low, high]` range (both inclusive).
    func intRange(_ key: String, min: Int = 1) -> ClosedRange<Int>? {
        guard let v = raw(key) else { return nil }
        switch v {
        case .number: return int(key, min: min).map { $0...$0 }
        case .array(let a) where a.count == 2:
            if case .number(let lo) = a[0], case .number(let hi) = a[1], lo == lo.rounded(), hi == hi.rounded(),
                lo >= Double(min), hi >= lo, hi <= Double(Int32.max)
            {
                return Int(lo)...Int(hi)
            }
        default: break
        }
        fail(key, "an integer ≥ \(min) or a range [low, high]", v)
        return nil
    }

    func oneOf(_ key: String, _ allowed: [String], _ use: FieldUse = .defining) -> String? {
        guard let s = string(key, use) else { return nil }
        guard allowed.contains(s) else {
            reader.report(
                childPath(key), "expected one of \(allowed.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(s)\"")
            return nil
        }
        return s
    }

    func object(_ key: String, _ use: FieldUse = .defining) -> ObjectReader? {
        reader.object(raw(key, use), at: childPath(key))
    }

    /// A list of strings, or `{"file": path}` with one item per line.
    func list(_ key: String) -> Config.ListSource? {
        guard let v = raw(key) else { return nil }
        if case .array = v { return strings(key).map(Config.ListSource.items) }
        guard case .object = v, let o = object(key) else {
            fail(key, "an array of strings or {\"file\": path}", v)
            return nil
        }
        defer { o.finish() }
        if let path = o.string("file", nonEmpty: true) { return .file(path) }
        if !o.has("file") { reader.report(o.childPath("file"), "missing: the path of a file with one item per line") }
        return nil
    }

    /// Reports keys that were never read, suggesting the nearest known one.
    func finish(known extra: [String] = []) {
        // Sorted (a stable report) only when something is unknown: hosts' answers pass here per request.
        let unknown = fields.keys.filter { !used.contains($0) && !extra.contains($0) }
        guard !unknown.isEmpty else { return }
        let known = used.union(extra)
        for key in unknown.sorted() {
            let hint = ConfigReader.closest(to: key, in: known).map { " (did you mean \"\($0)\"?)" } ?? ""
            reader.report(childPath(key), "unknown key\(hint)")
        }
    }
}

extension ConfigReader {
    static func describeInt(min: Int, max: Int) -> String {
        switch (min, max) {
        case (1, Int(Int32.max)): "a positive integer"
        case (0, Int(Int32.max)): "a non-negative integer"
        case (_, Int(Int32.max)): "an integer ≥ \(min)"
        default: "an integer in \(min)…\(max)"
        }
    }

    /// The known key within edit distance 2 (or sharing a long prefix), if any.
    static func closest(to key: String, in known: Set<String>) -> String? {
        let scored = known.map { ($0, editDistance(key, $0)) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        guard let best = scored.first else { return nil }
        return best.1 <= max(2, key.count / 3) ? best.0 : nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var prev = Array(0...b.count)
        var cur = prev
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}

extension Double {
    var formatted: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
