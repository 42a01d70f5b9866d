import Prometheus

/// A run's live metrics in Prometheus's text format (`run.metrics`). The counts are read
/// from the run's own books each time they are scraped, so keeping them costs the run
/// nothing per turn; only request latencies are observed as they happen. Counters carry
/// the run directory's totals (a resumed run starts from what earlier runs wrote), so at
/// the end they equal `summary.json`'s.
final class RunMetrics: Sendable {
    /// What the run has counted so far.
    struct Reading {
        /// Seeds the run takes.
        var seeds: Int
        /// Dialogues being driven now.
        var running: Int
        /// Counts over the dialogues written.
        var stats: RunStats
    }

    private let registry = PrometheusCollectorRegistry()
    private let endpoints: [ModelEndpoint]
    private let read: @Sendable () -> Reading
    /// The value each counter has been raised to, by name and labels.
    private let published = Locked<[String: Int]>([:])
    private let server = Locked<MetricsServer?>(nil)

    /// Request latency buckets: from a fast local server's answer to a long generation's.
    static let latencyBuckets: [Duration] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
        .map { .milliseconds(Int64($0 * 1000)) }

    /// - Parameters:
    ///   - endpoints: the run's backends, whose servers' counts and latencies are reported.
    ///   - read: the run's counts, read at each scrape.
    init(endpoints: [ModelEndpoint], read: @escaping @Sendable () -> Reading) {
        self.endpoints = endpoints
        self.read = read
    }

    /// Serves the metrics at `settings`' address and observes request latencies until `stop`;
    /// returns the URL they are served at. Throws `RunError.io` when the address cannot be taken.
    func serve(_ settings: MetricsSettings) async throws -> String {
        let started = try await MetricsServer.start(settings, metrics: self)
        server.withLock { $0 = started }
        for endpoint in endpoints {
            for replica in endpoint.replicas {
                let histogram = registry.makeDurationHistogram(
                    name: "parley_request_duration_seconds", labels: Self.labels(endpoint, replica),
                    buckets: Self.latencyBuckets, help: "Seconds from sending a request to its answer (answered ones).")
                replica.observeLatency { histogram.recordNanoseconds(Int64($0 * 1e9)) }
            }
        }
        let host = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        return "http://\(host):\(started.port)/metrics"
    }

    /// Stops serving and observing.
    func stop() {
        server.withLock { $0 }?.stop()
        for replica in endpoints.flatMap(\.replicas) { replica.observeLatency(nil) }
    }

    /// The metrics now, in the text exposition format.
    func exposition() -> String {
        let reading = read()
        published.withLock { published in
            update(reading, published: &published)
        }
        return registry.emitToString()
    }

    private func update(_ r: Reading, published: inout [String: Int]) {
        let s = r.stats
        gauge("parley_seeds", "Seeds the run takes.", to: r.seeds)
        let states = [
            ("pending", max(0, r.seeds - s.ended - r.running)), ("running", r.running), ("finished", s.finished),
            ("filtered", s.filtered), ("failed", s.failed),
        ]
        for (state, n) in states {
            gauge("parley_dialogues", "Dialogues by state.", [("state", state)], to: n)
        }
        func count(_ name: String, _ help: String, _ labels: [(String, String)] = [], to value: Int) {
            let counter = registry.makeCounter(name: name, labels: labels, help: help)
            let key = labels.reduce(name) { $0 + "|" + $1.0 + "=" + $1.1 }
            let delta = value - published[key, default: 0]
            guard delta > 0 else { return }
            counter.increment(by: Int64(delta))
            published[key] = value
        }
        count("parley_turns_total", "Complete exchanges in finished dialogues.", to: s.turns)
        count("parley_generated_messages_total", "Messages generated in ended dialogues.", to: s.messagesGenerated)
        for (reason, n) in s.endReasons {
            count("parley_end_reasons_total", "Ended dialogues by end reason.", [("reason", reason)], to: n)
        }
        for (reason, n) in s.failureReasons {
            count("parley_dialogue_failures_total", "Failed dialogues by reason.", [("reason", reason)], to: n)
        }
        for endpoint in endpoints {
            for replica in endpoint.replicas {
                let server = Self.labels(endpoint, replica)
                let c = replica.counts
                count("parley_requests_total", "Requests sent (every attempt).", server, to: c.requests)
                for (kind, n) in c.failureKinds {
                    count("parley_request_failures_total", "Failed attempts by kind.", server + [("kind", kind)], to: n)
                }
                let tokens = [
                    ("prompt", c.promptTokens), ("cached_prompt", c.cachedPromptTokens),
                    ("completion", c.completionTokens),
                ]
                for (kind, n) in tokens {
                    count("parley_tokens_total", "Tokens the server reported.", server + [("kind", kind)], to: n)
                }
                count(
                    "parley_circuit_opens_total", "Times the server was taken out of the fleet.", server,
                    to: c.circuitOpens)
                gauge(
                    "parley_requests_in_flight", "Requests the server is answering now.", server,
                    to: replica.limiter.inFlight)
                gauge("parley_concurrency_limit", "The server's concurrency limit now.", server, to: replica.limit)
                gauge(
                    "parley_server_healthy", "1 while the server is in the fleet.", server, to: replica.healthy ? 1 : 0)
            }
        }
    }

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = [], to value: Int) {
        registry.makeGauge(name: name, labels: labels, help: help).set(Int64(value))
    }

    private static func labels(_ endpoint: ModelEndpoint, _ replica: Replica) -> [(String, String)] {
        [("backend", endpoint.name), ("url", replica.url)]
    }
}
