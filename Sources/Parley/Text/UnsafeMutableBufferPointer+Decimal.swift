extension UnsafeMutableBufferPointer<UInt8> {
    /// Writes `n` in decimal from `index`, where there is room for 20 bytes (`UInt.max` has 20 digits), and returns
    /// the index after its digits: the last digit first, then the run reversed, without a `String` or a temporary
    /// buffer (`String(n)` cost ~250 instructions, and a request writes about nine integers: benchmarks/callgrind).
    func initializeDecimal(_ n: UInt, at index: Int) -> Int {
        var end = index
        var rest = n
        repeat {
            self[end] = UInt8(truncatingIfNeeded: rest % 10) &+ 0x30
            end += 1
            rest /= 10
        } while rest > 0
        self[index..<end].reverse()
        return end
    }
}
