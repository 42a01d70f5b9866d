import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An append-only file written with plain `write(2)`: each line reaches the kernel
/// before `append` returns, so it survives the process being killed at any instant.
/// The caller serialises appends (the journal and outputs hold their own locks).
final class AppendFile {
    let path: String
    /// Open for the object's lifetime (for `fdatasync` by the group commit).
    let fd: Int32
    /// Bytes in the file, kept in step with every append.
    private(set) var size: Int

    init(path: String) throws {
        self.path = path
        (fd, size) = try Self.open(path, O_WRONLY | O_APPEND)
    }

    /// Opens `path` with `flags`, creating it; returns the descriptor and the file's length.
    static func open(_ path: String, _ flags: Int32) throws -> (fd: Int32, size: Int) {
        let fd = openFile(path, flags | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        fstat(fd, &st)
        return (fd, Int(st.st_size))
    }

    /// Calls `write` until all `count` bytes from `bytes` are written; `write` gets how many are written so
    /// far and returns what `write(2)` does (retried on a partial write and on `EINTR`).
    static func writeAll(
        _ bytes: UnsafeRawPointer, _ count: Int, to path: String,
        _ write: (_ from: UnsafeRawPointer, _ count: Int, _ written: Int) -> Int
    ) throws {
        var offset = 0
        while offset < count {
            let n = write(bytes + offset, count - offset, offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw RunError.io("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    deinit { close(fd) }

    /// Appends `bytes` in one `write(2)` (retried on partial writes).
    func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBufferPointer { try append($0) }
    }

    /// Appends `buf` in one `write(2)` (retried on partial writes).
    func append(_ buf: UnsafeBufferPointer<UInt8>) throws {
        guard let start = buf.baseAddress else { return }
        try Self.writeAll(start, buf.count, to: path) { from, count, _ in write(fd, from, count) }
        size += buf.count
    }

    /// Cuts a file back to `size` bytes (a crash may have left a partial write after it).
    /// A file shorter than that lost lines the journal (`claimedBy`) says were written, as
    /// an OS crash can in `"process"` durability: that stops the run rather than pad the file.
    static func truncate(_ path: String, to size: Int, claimedBy journal: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            if size > 0 {
                throw RunError.corruptJournal("\(path) is missing, but \(journal) says it holds \(size) bytes")
            }
            return
        }
        var st = stat()
        let actual = stat(path, &st) == 0 ? Int(st.st_size) : 0
        if actual < size {
            throw RunError.corruptJournal(
                "\(path) has \(actual) bytes, but \(journal) says it holds \(size): "
                    + "lines were lost (an OS crash without run.durability \"fsync\"?); start again with --fresh")
        }
        guard truncateFile(path, off_t(size)) == 0 else {
            throw RunError.io("cannot truncate \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// `truncate(2)` and `open(2)`, under names the static methods above do not shadow.
private func truncateFile(_ path: String, _ size: off_t) -> Int32 { truncate(path, size) }
private func openFile(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
