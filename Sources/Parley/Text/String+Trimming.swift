extension StringProtocol {
    /// The text without leading and trailing Unicode whitespace (newlines included).
    func trimmingWhitespace() -> String { String(trimmingScalars { $0.properties.isWhitespace }) }

    /// The text without the leading and trailing scalars for which `drop` holds. (Foundation's
    /// `trimmingCharacters(in:)` needs `CharacterSet`, which `FoundationEssentials` lacks.)
    func trimmingScalars(_ drop: (Unicode.Scalar) -> Bool) -> Substring {
        let s = Substring(self)
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !drop($0) }), let last = scalars.lastIndex(where: { !drop($0) })
        else { return s[s.endIndex...] }
        return Substring(scalars[first...last])
    }
}
