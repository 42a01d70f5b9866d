import FoundationEssentials
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An append-only file written through a shared memory mapping: a line copied in is in the
/// kernel's page cache when the copy ends, so it survives the process being killed at any
/// instant, as a `write(2)` does, without a system call per line. At zero model latency the
/// journal's `write(2)` per line, and the waits for the lock it was written under, were a
/// quarter of a turn's CPU (`ParleyBench overhead 10000 8` with the writes skipped: 15.4–16.0
/// → 11.5–11.7 µs a turn).
///
/// The file grows a window at a time, allocated first (`posix_fallocate`), so that no page of the
/// window can fail for want of disk space when first written (a `SIGBUS` would kill a host
/// process); `close` cuts it back to its lines. A process killed mid-run leaves NUL bytes after
/// the last line: with no newline among them, readers take them, as they take any last line
/// without its newline, for a partial line (and a resume cuts them away). Where the file
/// system cannot allocate or map, and off Linux, lines are written with `pwrite(2)`.
/// The caller serialises appends; `Ahead.populate()`, which makes pages writable ahead of the lines, runs outside
/// the caller's lock.
final class MappedAppendFile {
    let path: String
    let fd: Int32
    /// Bytes of lines in the file.
    private(set) var size: Int
    private let windowBytes: Int
    /// The mapped window: `mapped` bytes of the file from `windowStart`; nil when not mapping.
    private var window: UnsafeMutableRawPointer?
    private var windowStart = 0
    private var mapped = 0
    /// Where the window's pages stop being writable without a fault (`populate`).
    private var populated = 0
    private var mapping: Bool
    private var closed = false
    private static let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    /// `MADV_POPULATE_WRITE` of <linux/mman.h> (Linux 5.14), which Glibc's module does not name.
    private static let populateWrite: Int32 = 23
    /// How far ahead of the lines pages are made writable, and in what steps.
    private static let aheadBytes = 32 << 10
    private static let stepBytes = 64 << 10
    private let steps = Steps()

    /// - Parameters:
    ///   - windowBytes: how much the file grows, and is mapped, at a time (rounded up to pages).
    ///   - mapping: false: `pwrite(2)` only.
    init(path: String, windowBytes: Int = 2 << 20, mapping: Bool = true) throws {
        self.path = path
        (fd, size) = try AppendFile.open(path, O_RDWR)  // not O_APPEND: Linux's pwrite would append past the window
        self.windowBytes = max(windowBytes, 1)
        #if os(Linux)
            self.mapping = mapping
        #else
            self.mapping = false
        #endif
    }

    deinit { try? close() }

    /// Appends `line`: in the kernel when this returns.
    /// - Returns: pages to make writable ahead of the lines, once the caller has let its lock go (nil: none due).
    @discardableResult
    func append(_ line: UnsafeBufferPointer<UInt8>) throws -> Ahead? {
        guard let bytes = line.baseAddress, !line.isEmpty else { return nil }
        guard !closed else { throw RunError.io("cannot write \(path): it is closed") }
        if mapping && size + line.count > windowStart + mapped { try remap(for: line.count) }
        guard let window else {  // only while mapping: every path that stops mapping leaves no window
            try AppendFile.writeAll(bytes, line.count, to: path) { from, count, written in
                pwrite(fd, from, count, off_t(size + written))
            }
            size += line.count
            return nil
        }
        if size + line.count > populated { populate(through: size + line.count) }
        (window + (size - windowStart)).copyMemory(from: bytes, byteCount: line.count)
        size += line.count
        return ahead()
    }

    /// A step of the window to make writable, when the lines come within `aheadBytes` of the pages made so, and
    /// no step is in flight.
    private func ahead() -> Ahead? {
        let end = windowStart + mapped
        guard let window, populated - size < Self.aheadBytes, populated < end,
            steps.inFlight.load(ordering: .relaxed) == 0
        else { return nil }
        let count = min(Self.stepBytes, end - populated)
        let step = Ahead(address: window + (populated - windowStart), count: count, steps: steps)
        populated += count
        return step
    }

    /// Pages of the window to make writable ahead of the lines (`MADV_POPULATE_WRITE`) outside the caller's lock:
    /// a 64 KiB step faults 16 pages in, and under the journal's lock the other dialogues' lines waited for it,
    /// each wait a futex sleep and wake-up. A line that reaches pages before the step is done faults them in.
    /// While this lives, its window stays mapped (a window left meanwhile is unmapped when the last step ends).
    final class Ahead {
        private let address: UnsafeMutableRawPointer
        private let count: Int
        private let steps: Steps

        fileprivate init(address: UnsafeMutableRawPointer, count: Int, steps: Steps) {
            (self.address, self.count, self.steps) = (address, count, steps)
            steps.begin()
        }

        deinit { steps.end() }

        func populate() {
            #if os(Linux)
                _ = madvise(address, count, MappedAppendFile.populateWrite)
            #endif
        }
    }

    /// The steps in flight, and the windows left while they were: unmapped when the last step ends.
    fileprivate final class Steps: Sendable {
        let inFlight = Atomic<Int>(0)
        private let left = Locked<[(address: UnsafeMutableRawPointer, length: Int)]>([])

        func begin() { left.withLock { _ in inFlight.add(1, ordering: .relaxed) } }

        func end() {
            let unmapping = left.withLock { left -> [(address: UnsafeMutableRawPointer, length: Int)] in
                guard inFlight.subtract(1, ordering: .relaxed).newValue == 0 else { return [] }
                defer { left = [] }
                return left
            }
            for window in unmapping { munmap(window.address, window.length) }
        }

        /// Unmaps a window, or leaves it to the last step in flight.
        func unmap(_ address: UnsafeMutableRawPointer, _ length: Int) {
            let now = left.withLock { left in
                if inFlight.load(ordering: .relaxed) == 0 { return true }
                left.append((address, length))
                return false
            }
            if now { munmap(address, length) }
        }
    }

    /// Unmaps the window and cuts the file back to its lines.
    func close() throws {
        guard !closed else { return }
        closed = true
        unmap()
        defer { closeDescriptor(fd) }
        while ftruncate(fd, off_t(size)) != 0 {
            if errno == EINTR { continue }
            throw RunError.io("cannot truncate \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Maps a window from the page holding the end of the file that holds `count` more bytes.
    private func remap(for count: Int) throws {
        #if os(Linux)
            unmap()
            let start = size / Self.page * Self.page
            let length = (max(windowBytes, size - start + count) + Self.page - 1) / Self.page * Self.page
            // Allocated first (it also extends the file): a page the mapping writes then never waits for disk space.
            let failed = posix_fallocate(fd, off_t(start), off_t(length))
            if failed != 0 {
                if failed == ENOSPC || failed == EDQUOT || failed == EFBIG {
                    throw RunError.io("cannot extend \(path): \(String(cString: strerror(failed)))")
                }
                mapping = false  // not supported here: plain writes
                return
            }
            let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(start))
            guard let address, address != MAP_FAILED else {
                mapping = false
                // The file was extended past its lines: plain writes go after the lines, and `close` cuts the rest.
                return
            }
            window = address
            windowStart = start
            mapped = length
            populated = start
        #endif
    }

    /// Makes the window's pages writable through `end` in one call, rather than a page fault each as a line
    /// reaches them (`MADV_POPULATE_WRITE`, Linux 5.14; older kernels refuse it, and the pages fault in as
    /// written): ParleyBench overhead 10000 8, 4 pairs, 0.7 µs a turn less. Lines reach here at a window's start
    /// and past a step in flight; otherwise `Ahead` steps keep the pages ready. Not the whole window at once: that
    /// took about a millisecond, with every dialogue's journal line waiting.
    private func populate(through end: Int) {
        #if os(Linux)
            guard let window else { return }
            let upTo = min(windowStart + mapped, (end + Self.page - 1) / Self.page * Self.page)
            _ = madvise(window + (populated - windowStart), upTo - populated, Self.populateWrite)
            populated = upTo
        #endif
    }

    private func unmap() {
        if let window { steps.unmap(window, mapped) }
        window = nil
        windowStart = size
        mapped = 0
    }
}

/// `close(2)`, under a name the method above does not shadow.
private func closeDescriptor(_ fd: Int32) { close(fd) }
