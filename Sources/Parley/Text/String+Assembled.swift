/// Pieces copied into a string's buffer, in `String.assembled(_:)`.
struct StringAssembly {
    /// Nil while measuring.
    fileprivate var buffer: UnsafeMutableBufferPointer<UInt8>?
    fileprivate(set) var count = 0

    mutating func append(_ piece: some StringProtocol) {
        guard buffer != nil else {
            count += piece.utf8.count
            return
        }
        piece.withBorrowedUTF8 { copy($0) }
    }

    private mutating func copy(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let buffer, let source = bytes.baseAddress, let target = buffer.baseAddress else { return }
        let n = min(bytes.count, buffer.count - count)  // the second pass appends what the first measured
        (target + count).initialize(from: source, count: n)
        count += n
    }
}

extension String {
    /// A string of the pieces `body` appends, written into one buffer of the measured size: `body` runs
    /// twice, to measure, then to copy. Each `+=` of a piece cost about 100 instructions (a prompt of 16
    /// messages is 50 of them, remade for every request; `benchmarks/callgrind`).
    static func assembled(_ body: (inout StringAssembly) -> Void) -> String {
        var measure = StringAssembly()
        body(&measure)
        return String(unsafeUninitializedCapacity: measure.count) { buffer in
            var write = StringAssembly(buffer: buffer)
            body(&write)
            return write.count
        }
    }
}
