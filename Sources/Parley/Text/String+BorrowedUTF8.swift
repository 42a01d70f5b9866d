extension StringProtocol {
    /// Calls `body` with the text's UTF-8 bytes (valid only during the call) without copying the text:
    /// `withUTF8` is `mutating`, so reading a `let` through it took a copy, a retain and a release
    /// (~40 instructions) each time, and a request reads about 25 texts this way (benchmarks/callgrind).
    /// Native strings are contiguous; a bridged or otherwise foreign one is made contiguous in a copy.
    @inline(__always)
    package func withBorrowedUTF8<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        if let result = try utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = String(self)
        return try copy.withUTF8(body)
    }
}
