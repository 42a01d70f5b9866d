import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Parley

/// A minimal OpenAI-compatible server for the HTTP benchmark (`parley-bench serve PORT`), so the
/// server is not what a client is measured against: every POST is answered at once with one canned
/// completion (chat or text, by path), on one event loop thread; `GET /stats` says how many
/// connections and requests it has served (a client that reuses its connections opens few).
enum StubServer {
    static let chat = Array(
        #"""
        {"id":"c","object":"chat.completion","model":"stub","choices":[{"index":0,"message":{"role":"assistant",\#
        "content":"A short answer of about twenty words, the size of a quick reply from a small model on a \#
        local server."},"finish_reason":"stop"}],"usage":{"prompt_tokens":40,"completion_tokens":20}}
        """#.utf8)
    static let text = Array(
        #"""
        {"id":"c","object":"text_completion","model":"stub","choices":[{"index":0,"text":" A short question \#
        about the answer, one line long?","finish_reason":"stop"}],"usage":{"prompt_tokens":40,"completion_tokens":12}}
        """#.utf8)

    final class Counts: Sendable {
        let state = Locked((connections: 0, requests: 0))
    }

    static func serve(port: Int) throws -> Never {
        let counts = Counts()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                counts.state.withLock { $0.connections += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HTTPResponder { respond(to: $0, counts) })
                }
            }
            .bind(host: "127.0.0.1", port: port).wait()
        FileHandle.standardOutput.write(Data("listening \(channel.localAddress?.port ?? port)\n".utf8))
        try channel.closeFuture.wait()
        exit(0)
    }

    /// A canned completion for a POST, the counts for `GET /stats`, 404 otherwise.
    private static func respond(to head: HTTPRequestHead, _ counts: Counts) -> HTTPResponder.Response {
        if head.method == .POST {
            counts.state.withLock { $0.requests += 1 }
            return (.ok, "application/json", head.uri.hasSuffix("/chat/completions") ? chat : text)
        }
        guard head.uri == "/stats" else {
            return (.notFound, "application/json", Array(#"{"error": "not found"}"#.utf8))
        }
        let c = counts.state.withLock { $0 }
        return (.ok, "application/json", Array(#"{"connections": \#(c.connections), "requests": \#(c.requests)}"#.utf8))
    }
}
