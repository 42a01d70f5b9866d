import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves a run's metrics at `GET /metrics` over HTTP/1.1 with keep-alive, and nothing else,
/// on NIO's shared event loops.
final class MetricsServer: Sendable {
    private let channel: any Channel
    /// The port listened on: the one the system gave when port 0 was asked.
    let port: Int

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    /// Listens on `settings`' address. Throws `RunError.io` naming it when it cannot (in use, not local).
    static func start(_ settings: MetricsSettings, metrics: RunMetrics) async throws -> MetricsServer {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HTTPResponder { respond(to: $0, metrics) })
                }
            }
        do {
            let channel = try await bootstrap.bind(host: settings.host, port: settings.port).get()
            return MetricsServer(channel: channel, port: channel.localAddress?.port ?? settings.port)
        } catch {
            throw RunError.io("cannot serve metrics on \(settings.host):\(settings.port) (run.metrics): \(error)")
        }
    }

    /// The metrics for `GET /metrics`, 404 otherwise.
    private static func respond(to head: HTTPRequestHead, _ metrics: RunMetrics) -> HTTPResponder.Response {
        let path = head.uri.split(separator: "?", maxSplits: 1).first ?? ""
        guard head.method == .GET && path == "/metrics" else {
            return (.notFound, "text/plain", Array("not found: the metrics are at /metrics\n".utf8))
        }
        return (.ok, "text/plain; version=0.0.4; charset=utf-8", Array(metrics.exposition().utf8))
    }

    /// Stops listening; connections open now close when their clients close them.
    func stop() {
        channel.close(promise: nil)
    }
}
