import Dispatch
import FoundationEssentials
import Parley

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns the first SIGINT/SIGTERM into a clean stop (the run stays resumable);
/// a second one exits at once.
final class SignalTrap {
    private let sources: [any DispatchSourceSignal]

    init(onSignal: @escaping @Sendable () -> Void) {
        let received = LockedFlag()
        sources = [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if received.set() {
                    Output.stderr.write("\nparley: stopping (again to quit at once)…\n")
                    onSignal()
                } else {
                    exit(130)
                }
            }
            source.resume()
            return source
        }
    }
}

final class LockedFlag: Sendable {
    private let value = Locked(false)
    /// Sets the flag; true if it was not set before.
    func set() -> Bool {
        value.withLock { was in
            defer { was = true }
            return !was
        }
    }
}

/// A live progress line on a terminal, plain periodic lines otherwise.
final class ProgressReporter: Sendable {
    private let task: Task<Void, Never>

    init(runner: Runner, interval: Double) {
        let tty = isatty(STDERR_FILENO) == 1
        task = Task.detached {
            let start = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64((tty ? 0.5 : interval) * 1e9))
                if Task.isCancelled { break }
                let line =
                    ProgressReporter.line(runner.progress, elapsed: ContinuousClock.now - start)
                    + ProgressReporter.serving(ServingReport(runner.engine), progress: runner.progress)
                Output.stderr.write(tty ? "\r\u{1B}[K" + line : line + "\n")
            }
            if tty { Output.stderr.write("\r\u{1B}[K") }
        }
    }

    func stop() { task.cancel() }

    static func line(_ p: Runner.LiveCounts, elapsed: Duration) -> String {
        let secs = max(0.001, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        let doneNow = p.ended - p.resumedEnded
        let remaining = max(0, p.totalSeeds - p.ended)
        let eta = doneNow > 0 ? format(Double(remaining) * secs / Double(doneNow)) : "?"
        let turnsPerSecond = fixed(Double(p.messages) / 2 / secs, 1)
        let tokensPerSecond = fixed(Double(p.tokens) / secs, 0)
        return "\(p.ended)/\(p.totalSeeds) dialogues · \(p.inFlight) running · \(turnsPerSecond) turns/s · "
            + "\(tokensPerSecond) tok/s · \(p.failed) failed · ETA \(eta)"
    }

    /// ` · cache 62% · limit 12 · $0.41 of $5 (→ $3.20)`: the share of prompt tokens the
    /// servers' caches served, the sum of the concurrency limits, and the budget's spend
    /// with its projection over every seed.
    static func serving(_ report: ServingReport, progress p: Runner.LiveCounts) -> String {
        let t = report.total
        var out = ""
        if t.cachedPromptTokens > 0 && t.promptTokens > 0 {
            out += " · cache \(t.cachedPromptTokens * 100 / t.promptTokens)%"
        }
        if report.backends.values.contains(where: { $0.replicas.contains { $0.concurrency.mode == .adaptive } }) {
            out += " · limit \(report.limit)"
        }
        if let budget = report.budget {
            let spent = budget.spent
            let done = max(1, p.ended)
            let share = Double(p.totalSeeds) / Double(done)
            if let max = budget.config.maxCost {
                out += " · $\(fixed(spent.cost, 2)) of $\(fixed(max, 2)) (→ $\(fixed(spent.cost * share, 2)))"
            } else {
                let tokens = spent.promptTokens + spent.completionTokens
                out += " · \(tokens) tokens spent (→ \(Int(Double(tokens) * share)))"
            }
        }
        return out
    }

    /// `x` with `digits` decimals, as `String(format: "%.2f")` writes it (that needs full Foundation).
    static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return "\(x)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(x) * scale).rounded()
        let sign = x < 0 && scaled > 0 ? "-" : ""
        let whole = String(Int(scaled / scale))
        guard digits > 0 else { return sign + whole }
        let fraction = String(Int(scaled.truncatingRemainder(dividingBy: scale)))
        return sign + whole + "." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    static func format(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(t % 3600 / 60)m" : t >= 60 ? "\(t / 60)m\(t % 60)s" : "\(t)s"
    }
}

/// A progress line for single-threaded work: redrawn in place on a terminal (at most
/// five times a second), one plain line every ten seconds otherwise.
final class LineProgress {
    private let tty = isatty(STDERR_FILENO) == 1
    private var last = ContinuousClock.now - .seconds(60)
    private var shown = false

    func show(_ text: String) {
        let now = ContinuousClock.now
        guard now - last >= (tty ? .milliseconds(200) : .seconds(10)) else { return }
        last = now
        shown = true
        Output.stderr.write(tty ? "\r\u{1B}[2K" + text : text + "\n")
    }

    func done() { if tty && shown { Output.stderr.write("\r\u{1B}[2K") } }
}
