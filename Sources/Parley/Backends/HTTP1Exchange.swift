import NIOCore
import NIOHTTP1

/// One request on a kept-alive HTTP/1.1 connection of `HTTP1Client`, and what came of it.
struct HTTP1Exchange: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var deadline: NIODeadline
    var reply: EventLoopPromise<HTTP1Reply>
}

/// A whole response.
struct HTTP1Reply: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: ByteBuffer
    /// The server keeps the connection open for the next request.
    var keepAlive: Bool
}

/// Why an exchange failed below HTTP (`HTTP.transportError` turns each into a `BackendError`).
enum HTTP1Failure: Error, CustomStringConvertible {
    /// Nothing listens at the address (after the connect retries, where those are on).
    case refused(String)
    /// The connection broke (or could not be made) before a response head.
    case reset(String)
    /// The connection broke during the response body.
    case truncated(String)
    /// The deadline passed before the whole response came.
    case timeout
    /// The body is over `HTTP.maxBodyBytes`.
    case tooLarge

    var description: String {
        switch self {
        case .refused(let why), .reset(let why), .truncated(let why): why
        case .timeout: "timeout"
        case .tooLarge: "body too large"
        }
    }
}

/// The last handler of an `HTTP1Client` connection: writes an exchange's request head, body and end
/// for one flush (one `writev`, so one TCP segment for a small request), collects the response and
/// completes the exchange's promise. One exchange at a time; a failure closes the connection.
final class HTTP1ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTP1Exchange
    typealias OutboundOut = HTTPClientRequestPart

    private var reply: EventLoopPromise<HTTP1Reply>?
    private var response: HTTPResponseHead?
    private var body: ByteBuffer?
    private var timeout: Scheduled<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard reply == nil else {
            let busy = HTTP1Failure.reset("the connection is busy with another request")
            promise?.fail(busy)
            exchange.reply.fail(busy)
            return
        }
        reply = exchange.reply
        timeout = context.eventLoop.assumeIsolated().scheduleTask(deadline: exchange.deadline) {
            self.fail(.timeout, context: context)
        }
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let body = exchange.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let reply else { return }  // after a failure, before the close
        switch unwrapInboundIn(data) {
        case .head(let head):
            response = head
        case .body(var part):
            if body == nil {
                body = part
            } else {
                body?.writeBuffer(&part)
            }
            if (body?.readableBytes ?? 0) > HTTP.maxBodyBytes { fail(.tooLarge, context: context) }
        case .end:
            guard let head = response else { return fail(.reset("a response end without a head"), context: context) }
            let whole = HTTP1Reply(
                status: Int(head.status.code), headers: head.headers,
                body: body ?? context.channel.allocator.buffer(capacity: 0), keepAlive: head.isKeepAlive)
            finish()
            reply.succeed(whole)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(broken("\(error)"), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(broken("the server closed the connection"), context: context)
        context.fireChannelInactive()
    }

    /// A break before the response head is a reset; after it, a truncated body.
    private func broken(_ why: String) -> HTTP1Failure {
        response == nil ? .reset(why) : .truncated(why)
    }

    private func fail(_ failure: HTTP1Failure, context: ChannelHandlerContext) {
        let reply = self.reply
        finish()
        reply?.fail(failure)
        context.close(promise: nil)
    }

    private func finish() {
        timeout?.cancel()
        timeout = nil
        reply = nil
        response = nil
        body = nil
    }
}
