#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Monotonic seconds for the serving logic (limits, breakers, traces) and request latencies.
/// Read straight from `clock_gettime`: `ContinuousClock.now - origin` went through `Duration`'s
/// 128-bit arithmetic, ~370 instructions a reading, five a request (benchmarks/callgrind).
public enum MonotonicTime {
    /// Whole seconds of the clock when first read: readings count from there, small enough that a
    /// `Double` keeps nanoseconds.
    private static let originSeconds = now().tv_sec

    public static func seconds() -> Double {
        let origin = originSeconds  // first: the first reading sets it, and must not come after it
        let t = now()
        return Double(t.tv_sec - origin) + Double(t.tv_nsec) * 1e-9
    }

    private static func now() -> timespec {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return t
    }
}
