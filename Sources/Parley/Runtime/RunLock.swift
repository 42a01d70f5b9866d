import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One owner per run directory: an exclusive `flock(2)` on `run.lock`, held while the run
/// goes. The kernel drops it when the holder exits, however it dies, so a crashed run never
/// leaves the directory locked. The holder writes who it is into the file, for the message
/// a second run gets. On Linux NFS `flock` is a whole-file lock through the server, so runs
/// on two machines sharing the directory exclude each other too.
///
/// Within one process the directories held are also kept in a set: two jobs of one engine
/// are refused even where the file system's locks are per process.
final class RunLock: Sendable {
    static let fileName = "run.lock"
    private static let held = Locked<Set<String>>([])

    let directory: String
    private let key: String
    private let fd: Int32

    /// Takes the directory (creating it) or throws `RunError.busy` naming the holder.
    init(directory: String) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw RunError.io("cannot create \(directory): \(error)")
        }
        let path = directory + "/" + Self.fileName
        let key = Self.canonical(directory)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        let inProcess = !Self.held.withLock { $0.insert(key).inserted }
        if inProcess || flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = Self.holder(fd: fd)
            close(fd)
            if !inProcess { Self.held.withLock { _ = $0.remove(key) } }
            let by = inProcess ? "another job of this process" : holder ?? "another process"
            throw RunError.busy(
                "\(directory) is in use by \(by); wait for that run to end, "
                    + "or use another output directory")
        }
        self.directory = directory
        self.key = key
        self.fd = fd
        ftruncate(fd, 0)
        let identity = Array(Self.identity().utf8)
        _ = identity.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit {
        close(fd)  // releases the flock
        Self.held.withLock { _ = $0.remove(key) }
    }

    /// `pid 123 on host-a since 2026-12-01T21:50:00Z`, as the holder wrote it.
    private static func holder(fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer.prefix(n), as: UTF8.self).trimmingWhitespace()
        return text.isEmpty ? nil : text
    }

    private static func identity() -> String {
        var name = [CChar](repeating: 0, count: 256)
        let named = gethostname(&name, 255) == 0
        let bytes = name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let host = named ? String(decoding: bytes, as: UTF8.self) : "an unknown host"
        let since = Date().formatted(.iso8601)
        return "pid \(getpid()) on \(host) since \(since)\n"
    }

    static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
