import Foundation

/// A backend as the runtime uses it: its concurrency limit and its retry policy.
/// Every role served by the same backend shares one `ModelEndpoint`, so the limit is per server.
public final class ModelEndpoint: Sendable {
    public let name: String
    public let backend: any Backend
    public let limiter: RequestLimiter
    public let retry: RetryPolicy

    public init(name: String, backend: any Backend, settings: BackendCommon) {
        self.name = name
        self.backend = backend
        self.limiter = RequestLimiter(limit: settings.maxConcurrency)
        self.retry = RetryPolicy(maxRetries: settings.maxRetries, baseSeconds: settings.backoffBaseSeconds,
                                 maxSeconds: settings.backoffMaxSeconds)
    }

    /// Generates with retries. A slot is held only while an attempt runs, not during backoff.
    /// Throws `GenerationFailure` once retries are spent or the error is not retryable.
    public func generate(_ request: GenerationRequest) async throws -> (GenerationResult, attempts: Int) {
        var request = request
        var met: [String] = []
        while true {
            try await limiter.acquire()
            let outcome: Result<GenerationResult, any Error>
            do {
                let r = try await backend.generate(request)
                limiter.release()
                outcome = .success(r)
            } catch {
                limiter.release()
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let r): return (r, request.attempt)
            case .failure(let error):
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                let e = error as? BackendError ?? BackendError("\(error)", retryable: true)
                met.append(e.kind)
                guard e.retryable, request.attempt <= retry.maxRetries else {
                    throw GenerationFailure(reason: e.message, attempts: request.attempt, met: met)
                }
                try await Task.sleep(nanoseconds: UInt64(retry.delay(afterAttempt: request.attempt, retryAfter: e.retryAfter) * 1e9))
                request.attempt += 1
            }
        }
    }
}

/// A request that failed for good: the dialogue is marked failed with this reason.
public struct GenerationFailure: Error, Sendable, CustomStringConvertible {
    /// The last attempt's error.
    public var reason: String
    public var attempts: Int
    /// What each attempt met (`BackendError.kind`), in order.
    public var met: [String]

    public init(reason: String, attempts: Int, met: [String] = []) {
        self.reason = reason
        self.attempts = attempts
        self.met = met
    }

    /// `HTTP 503 from …: overloaded (after 9 attempts: 6 × timeout, 2 × HTTP 503, 1 × malformed body)`.
    public var description: String {
        guard attempts > 1, !met.isEmpty else {
            return "\(reason) (after \(attempts) attempt\(attempts == 1 ? "" : "s"))"
        }
        // Kinds in order of first appearance, then the most frequent first.
        var counts: [(kind: String, n: Int)] = []
        for kind in met {
            if let i = counts.firstIndex(where: { $0.kind == kind }) {
                counts[i].n += 1
            } else {
                counts.append((kind, 1))
            }
        }
        let ranked = counts.enumerated().sorted { ($0.element.n, $1.offset) > ($1.element.n, $0.offset) }
        let tally = ranked.map { "\($0.element.n) × \($0.element.kind)" }.joined(separator: ", ")
        return "\(reason) (after \(attempts) attempts: \(tally))"
    }
}

/// Exponential backoff with full jitter, capped; a server's `Retry-After` wins when longer.
public struct RetryPolicy: Sendable {
    public var maxRetries: Int
    public var baseSeconds: Double
    public var maxSeconds: Double

    public func delay(afterAttempt attempt: Int, retryAfter: Double?) -> Double {
        let ceiling = min(maxSeconds, baseSeconds * pow(2, Double(attempt - 1)))
        let jittered = Double.random(in: 0...max(ceiling, 1e-9))
        guard let retryAfter else { return jittered }
        return max(jittered, min(retryAfter, max(maxSeconds, 300)))
    }

    /// Parses a `Retry-After` header: seconds, or an HTTP date.
    public static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Double? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let s = Double(value) { return max(0, s) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: value).map { max(0, $0.timeIntervalSince(now)) }
    }
}
