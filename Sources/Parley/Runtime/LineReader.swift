#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a file line by line without loading it whole (seeds files and journals can be large).
final class LineReader {
    private var file: UnsafeMutablePointer<FILE>?
    private var buffer: UnsafeMutablePointer<CChar>? = nil
    private var capacity = 0
    private(set) var lineNumber = 0
    /// Bytes consumed up to the end of the last complete (newline-terminated) line.
    private(set) var completeBytes = 0

    init(path: String) throws {
        guard let f = fopen(path, "r") else {
            throw RunError.io("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        if fstat(fileno(f), &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            fclose(f)
            throw RunError.io("cannot read \(path): it is a directory, not a file")
        }
        file = f
    }

    /// Reads an open stream (an `fmemopen` buffer, say), and closes it when done.
    init(stream: UnsafeMutablePointer<FILE>) { file = stream }

    func close() {
        if let file { fclose(file) }
        file = nil
        buffer.map { free($0) }
        buffer = nil
    }

    deinit { close() }

    /// The next line without its newline; `complete` is false for a last line with no newline.
    /// Invalid UTF-8 is replaced (U+FFFD); `nextChecked` refuses it instead.
    func next() -> (text: String, complete: Bool)? {
        guard let (raw, complete) = nextBytes() else { return nil }
        return (String(decoding: raw, as: UTF8.self), complete)
    }

    /// Why a line cannot be read as text.
    enum Problem: Error {
        case tooLong(bytes: Int)
        case invalidUTF8(offset: Int)
    }

    /// The next line as text, or why it is none: over `limit` bytes, or not valid UTF-8.
    func nextChecked(limit: Int) -> Result<String, Problem>? {
        guard let (raw, _) = nextBytes() else { return nil }
        guard raw.count <= limit else { return .failure(.tooLong(bytes: raw.count)) }
        if let offset = Self.firstInvalidUTF8(raw) { return .failure(.invalidUTF8(offset: offset)) }
        return .success(String(decoding: raw, as: UTF8.self))
    }

    /// The line's bytes without the newline, valid until the next call.
    private func nextBytes() -> (UnsafeRawBufferPointer, complete: Bool)? {
        guard let file else { return nil }
        let n = getline(&buffer, &capacity, file)
        guard n >= 0, let buffer else { return nil }
        lineNumber += 1
        let raw = UnsafeRawBufferPointer(start: buffer, count: n)
        let complete = n > 0 && raw[n - 1] == 0x0A
        if complete { completeBytes += n }
        return (UnsafeRawBufferPointer(rebasing: raw.prefix(complete ? n - 1 : n)), complete)
    }

    /// The offset of the first byte that does not start a valid UTF-8 sequence, if any.
    static func firstInvalidUTF8(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }
}
