/// Where a run serves its live metrics (`run.metrics`, or `--metrics-port`): Prometheus's
/// text format at `http://HOST:PORT/metrics` while the run goes. Off unless configured.
public struct MetricsSettings: Sendable, Equatable {
    /// The TCP port; 0: any free port (the run reports the one it took).
    public var port: Int
    /// The address to listen on: loopback unless said otherwise.
    public var host: String

    public init(port: Int, host: String = "127.0.0.1") {
        self.port = port
        self.host = host
    }
}
