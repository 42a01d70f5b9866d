extension StringProtocol {
    /// The text without leading and trailing Unicode whitespace (newlines included).
    func trimmingWhitespace() -> String {
        withBorrowedUTF8 { utf8 in
            String(decoding: UnsafeBufferPointer(rebasing: utf8[utf8.trimmingWhitespace(utf8.indices)]), as: UTF8.self)
        }
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// `range` of this UTF-8 text without the whitespace (Unicode's White_Space) at its ends: ASCII byte-wise,
    /// another scalar decoded only when one is at an end. `TurnCleaner` trims every generated message with it
    /// (through `Substring.UTF8View`'s indices a trim cost ~270 instructions, `benchmarks/callgrind`).
    func trimmingWhitespace(_ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper {
            if Self.isASCIIWhitespace(self[lower]) {
                lower += 1
                continue
            }
            guard self[lower] >= 0x80, let (s, width) = scalar(lower..<upper), s.properties.isWhitespace else { break }
            lower += width
        }
        while lower < upper {
            if Self.isASCIIWhitespace(self[upper - 1]) {
                upper -= 1
                continue
            }
            guard self[upper - 1] >= 0x80 else { break }
            var start = upper - 1
            while start > lower, self[start] & 0xC0 == 0x80 { start -= 1 }  // back over continuation bytes
            guard let (s, _) = scalar(start..<upper), s.properties.isWhitespace else { break }
            upper = start
        }
        return lower..<upper
    }

    /// The scalar that `range` begins with, and its length in bytes; nil for an invalid sequence.
    private func scalar(_ range: Range<Int>) -> (Unicode.Scalar, Int)? {
        var bytes = UnsafeBufferPointer(rebasing: self[range]).makeIterator()
        var decoder = UTF8()
        guard case .scalarValue(let s) = decoder.decode(&bytes) else { return nil }
        return (s, UTF8.width(s))
    }

    /// Space, tab, line feed, vertical tab, form feed, carriage return: Unicode's White_Space in ASCII.
    private static func isASCIIWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
}

extension Substring {
    /// The text without the leading and trailing scalars for which `drop` holds. (Foundation's
    /// `trimmingCharacters(in:)` needs `CharacterSet`, which `FoundationEssentials` lacks.)
    func trimmingScalars(_ drop: (Unicode.Scalar) -> Bool) -> Substring {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !drop($0) }), let last = scalars.lastIndex(where: { !drop($0) })
        else { return self[endIndex...] }
        return Substring(scalars[first...last])
    }
}
