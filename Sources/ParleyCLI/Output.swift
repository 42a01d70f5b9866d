#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the CLI writes, with plain `write(2)`: Foundation's `FileHandle` would link full
/// Foundation, and with it ICU's data, into the binary.
struct Output {
    let fd: Int32

    static let stdout = Output(fd: STDOUT_FILENO)
    static let stderr = Output(fd: STDERR_FILENO)

    /// A new, empty file at `path`; nil when it cannot be created.
    static func create(_ path: String) -> Output? {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        return fd >= 0 ? Output(fd: fd) : nil
    }

    /// Writes `text`; a failure is ignored (messages on standard error).
    func write(_ text: String) { _ = try? write(Array(text.utf8)) }

    /// Writes every byte, or throws naming the error.
    func write(_ bytes: [UInt8]) throws(CLIError) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(CLIError) in
            var done = 0
            while done < buffer.count {
                let n = systemWrite(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw CLIError("cannot write: \(String(cString: strerror(errno)))") }
                done += n
            }
        }
    }

    func close() { _ = systemClose(fd) }
}

/// `write(2)` and `close(2)` under names `Output`'s methods do not shadow.
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }
