/// Monotonic seconds for the serving logic (limits, breakers, traces).
public enum MonotonicTime {
    static let origin = ContinuousClock.now

    public static func seconds() -> Double {
        let d = ContinuousClock.now - origin
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
