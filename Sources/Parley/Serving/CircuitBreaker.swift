/// Whether an endpoint of a fleet takes requests. Closed: it does. A refused connection,
/// or `threshold` failures in a row that say the server is broken (5xx, timeouts, lost
/// connections; not 429, which the concurrency controller handles), open it: the fleet
/// routes around it, and it is probed after a cooldown that doubles while probes fail.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed
        /// Out until a probe succeeds; the next probe is due at `probeAt` (seconds).
        case open(probeAt: Double)
    }

    public private(set) var state = State.closed
    public private(set) var opens = 0
    private var streak = 0
    private var cooldown: Double
    public let threshold: Int
    public let firstCooldown: Double
    public let maxCooldown: Double

    public init(threshold: Int = 5, firstCooldown: Double = 1, maxCooldown: Double = 30) {
        self.threshold = threshold
        self.firstCooldown = firstCooldown
        self.maxCooldown = maxCooldown
        cooldown = firstCooldown
    }

    public var isClosed: Bool { state == .closed }

    /// Records a failed request. Returns true when it opened the circuit.
    public mutating func failed(kind: String, now: Double) -> Bool {
        guard isClosed, Self.breaks(kind) else { return false }
        streak += 1
        guard kind == "refused" || streak >= threshold else { return false }
        state = .open(probeAt: now + cooldown)
        opens += 1
        return true
    }

    public mutating func succeeded() {
        streak = 0
        state = .closed
        cooldown = firstCooldown
    }

    /// A probe failed: wait twice as long for the next.
    public mutating func probeFailed(now: Double) {
        cooldown = min(maxCooldown, cooldown * 2)
        state = .open(probeAt: now + cooldown)
    }

    /// Failure kinds that say the server, not the request, is broken.
    static func breaks(_ kind: String) -> Bool {
        switch kind {
        case "refused", "reset", "timeout", "truncated body": true
        default: kind.hasPrefix("HTTP 5")
        }
    }
}
