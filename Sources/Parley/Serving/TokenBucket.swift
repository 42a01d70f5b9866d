/// A per-minute limit as a token bucket that may go into debt: a request is admitted
/// while the level is not negative and takes its whole cost, so one request larger than
/// the bucket still passes, and the long-run rate is the refill rate. The bucket starts
/// empty and holds at most one second of refill: a run never bursts above the limit.
public struct TokenBucket: Sendable, Equatable {
    public private(set) var perSecond: Double
    public private(set) var level: Double
    private var updated: Double

    public init(perMinute: Double, now: Double) {
        perSecond = perMinute / 60
        level = 0
        updated = now
    }

    private var capacity: Double { perSecond }

    /// Seconds until `take` can succeed; 0 when it can now.
    public mutating func wait(now: Double) -> Double {
        refill(now)
        return level >= 0 ? 0 : -level / perSecond
    }

    public mutating func take(_ cost: Double, now: Double) {
        refill(now)
        level -= cost
    }

    /// Gives back what a request reserved but did not use.
    public mutating func refund(_ amount: Double) {
        level = min(capacity, level + amount)
    }

    /// A limit learned from the server: the rate follows it, and the level never exceeds what it says remains.
    public mutating func learn(perMinute: Double?, remaining: Double?, now: Double) {
        refill(now)
        if let perMinute, perMinute > 0 { perSecond = perMinute / 60 }
        if let remaining { level = min(level, remaining) }
    }

    private mutating func refill(_ now: Double) {
        level = min(capacity, level + (now - updated) * perSecond)
        updated = now
    }
}
