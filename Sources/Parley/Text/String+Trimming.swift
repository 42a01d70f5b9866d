extension StringProtocol {
    /// The text without leading and trailing Unicode whitespace (newlines included).
    func trimmingWhitespace() -> String { String(Substring(self).trimmingScalars { $0.properties.isWhitespace }) }
}

extension Substring {
    /// The text without the leading and trailing scalars for which `drop` holds. (Foundation's
    /// `trimmingCharacters(in:)` needs `CharacterSet`, which `FoundationEssentials` lacks.) Not generic:
    /// `TurnCleaner` runs it twice per turn.
    func trimmingScalars(_ drop: (Unicode.Scalar) -> Bool) -> Substring {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !drop($0) }), let last = scalars.lastIndex(where: { !drop($0) })
        else { return self[endIndex...] }
        return Substring(scalars[first...last])
    }
}
