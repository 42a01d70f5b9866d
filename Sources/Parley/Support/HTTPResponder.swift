import NIOCore
import NIOHTTP1

/// A channel handler that answers each HTTP/1.1 request, once it has been read whole, with what
/// `respond` returns for its head (the body is not kept): the live metrics endpoint's handler, and
/// the HTTP benchmark's stub server's.
package final class HTTPResponder: ChannelInboundHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias OutboundOut = HTTPServerResponsePart
    package typealias Response = (status: HTTPResponseStatus, contentType: String, body: [UInt8])

    private let respond: @Sendable (HTTPRequestHead) -> Response
    private var head: HTTPRequestHead?

    package init(_ respond: @escaping @Sendable (HTTPRequestHead) -> Response) {
        self.respond = respond
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let response = respond(head)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: response.contentType)
            headers.add(name: "Content-Length", value: String(response.body.count))
            let responseHead = HTTPResponseHead(version: head.version, status: response.status, headers: headers)
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            let body = context.channel.allocator.buffer(bytes: response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
