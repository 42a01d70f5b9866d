#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file read at any offset with `pread(2)`, open for the object's lifetime.
final class ReadOnlyFile {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RunError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// Up to `count` bytes from `offset`: fewer only where the file ends.
    func read(_ count: Int, at offset: UInt64 = 0) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { buffer in
                pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw RunError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            done += n
        }
        bytes.removeLast(count - done)
        return bytes
    }
}
