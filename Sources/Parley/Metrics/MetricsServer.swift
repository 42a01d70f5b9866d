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
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(metrics: metrics))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: settings.host, port: settings.port).get()
            return MetricsServer(channel: channel, port: channel.localAddress?.port ?? settings.port)
        } catch {
            throw RunError.io("cannot serve metrics on \(settings.host):\(settings.port) (run.metrics): \(error)")
        }
    }

    /// Stops listening; connections open now close when their clients close them.
    func stop() {
        channel.close(promise: nil)
    }
}

/// Answers each request once it has been read whole: the metrics for `GET /metrics`, 404 otherwise.
private final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: RunMetrics
    private var head: HTTPRequestHead?

    init(metrics: RunMetrics) {
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first ?? ""
        let found = head.method == .GET && path == "/metrics"
        let body = found ? metrics.exposition() : "not found: the metrics are at /metrics\n"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        let response = HTTPResponseHead(version: head.version, status: found ? .ok : .notFound, headers: headers)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
