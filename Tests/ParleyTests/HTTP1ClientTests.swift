import NIOCore
import NIOHTTP1
import NIOPosix
import XCTest

@testable import Parley

/// `HTTP1Client` against a real NIO server on loopback whose answer each path chooses.
final class HTTP1ClientTests: XCTestCase {
    func testConnectionsAreKeptAliveAndReused() async throws {
        let server = try await TestServer.start()
        let client = HTTP1Client(retryingConnections: false)
        for _ in 0..<5 {
            let reply = try await client.get(server, "/ok")
            XCTAssertEqual(reply.status, 200)
            XCTAssertEqual(String(buffer: reply.body), "ok")
        }
        XCTAssertEqual(server.connections, 1, "five requests in turn, one connection")
        XCTAssertEqual(server.requests, 5)
        // Requests at once each need a connection, and no more are made than they need.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { _ = try await client.get(server, "/ok") } }
            try await group.waitForAll()
        }
        XCTAssertLessThanOrEqual(server.connections, 4)
    }

    func testARequestAndItsBodyAreSentAndAnsweredWhole() async throws {
        let server = try await TestServer.start()
        let client = HTTP1Client(retryingConnections: false)
        let body = String(repeating: "x", count: 100_000)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        let reply = try await client.execute(
            .POST, target(server.port, "/echo"), headers: headers, body: ByteBuffer(string: body),
            deadline: .now() + .seconds(10))
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(String(buffer: reply.body), body, "the server's echo of the body, read across many reads")
    }

    func testAConnectionTheServerClosesIsNotReused() async throws {
        let server = try await TestServer.start()
        let client = HTTP1Client(retryingConnections: false)
        for _ in 0..<3 {
            let reply = try await client.get(server, "/close")
            XCTAssertEqual(reply.status, 200)
        }
        XCTAssertEqual(server.connections, 3, "Connection: close: each request on a new connection")
    }

    func testEachBreakHasItsKind() async throws {
        let server = try await TestServer.start()
        let client = HTTP1Client(retryingConnections: false)
        await assertFails(try await client.get(server, "/reset")) {
            guard case .reset = $0 else { return XCTFail("\($0)") }
        }
        await assertFails(try await client.get(server, "/short")) {
            guard case .truncated = $0 else { return XCTFail("\($0)") }
        }
        let started = NIODeadline.now()
        await assertFails(try await client.get(server, "/stall", seconds: 0.3)) {
            guard case .timeout = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertLessThan(NIODeadline.now() - started, .seconds(5), "the deadline ends the wait")
        // The connection survives none of them, and the next request is answered.
        let after = try await client.get(server, "/ok")
        XCTAssertEqual(after.status, 200)
        let closed = try await TestServer.start()
        let port = closed.port
        try await closed.stop()
        await assertFails(try await client.get(port: port, "/ok")) {
            guard case .refused = $0 else { return XCTFail("\($0)") }
        }
    }

    func testTargets() {
        let t = HTTP1Target("http://127.0.0.1:8080/v1/chat/completions")
        XCTAssertEqual(t?.host, "127.0.0.1")
        XCTAssertEqual(t?.port, 8080)
        XCTAssertEqual(t?.authority, "127.0.0.1:8080")
        XCTAssertEqual(t?.path, "/v1/chat/completions")
        XCTAssertEqual(HTTP1Target("HTTP://example.com")?.port, 80)
        XCTAssertEqual(HTTP1Target("http://example.com")?.path, "/")
        XCTAssertEqual(HTTP1Target("http://example.com?a=1")?.path, "/?a=1")
        XCTAssertEqual(HTTP1Target("http://[::1]:9000/x")?.host, "::1")
        XCTAssertEqual(HTTP1Target("http://[::1]:9000/x")?.port, 9000)
        XCTAssertNil(HTTP1Target("https://example.com/"), "TLS goes through AsyncHTTPClient")
        XCTAssertNil(HTTP1Target("http://user:key@example.com/"))
        XCTAssertNil(HTTP1Target("http://example.com:99999/"))
        XCTAssertNil(HTTP1Target("http:///path"))
        XCTAssertEqual(HTTP1Target("Http://h:1/a?b=/c")?.path, "/a?b=/c")
        XCTAssertEqual(HTTP1Target("http://h:65535")?.port, 65535)
        XCTAssertNil(HTTP1Target("http://h:0/"))
        XCTAssertNil(HTTP1Target("http:/h/"))
    }

    func testAnAPIKeyWithALineBreakIsRefusedBeforeAnythingIsSent() async throws {
        let server = try await TestServer.start()
        do {
            _ = try await HTTP.postJSON(
                "http://127.0.0.1:\(server.port)/ok", body: "{}", apiKey: "sk-1\r\nX-Injected: 1", timeout: 5)
            XCTFail("sent")
        } catch let error as BackendError {
            XCTAssertEqual(error.kind, "bad api key")
            XCTAssertFalse(error.retryable)
            XCTAssertFalse("\(error)".contains("sk-1"), "the key stays out of the message")
        }
        XCTAssertEqual(server.requests, 0)
        let fine = try await HTTP.postJSON("http://127.0.0.1:\(server.port)/ok", body: "{}", apiKey: "sk-1", timeout: 5)
        XCTAssertEqual(fine.0, 200)
    }

    private func assertFails(
        _ body: @autoclosure () async throws -> HTTP1Reply, file: StaticString = #filePath, line: UInt = #line,
        _ check: (HTTP1Failure) -> Void
    ) async {
        do {
            _ = try await body()
            XCTFail("no failure", file: file, line: line)
        } catch let failure as HTTP1Failure {
            check(failure)
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }
}

extension HTTP1Client {
    fileprivate func get(_ server: TestServer, _ path: String, seconds: Double = 10) async throws -> HTTP1Reply {
        try await get(port: server.port, path, seconds: seconds)
    }

    fileprivate func get(port: Int, _ path: String, seconds: Double = 10) async throws -> HTTP1Reply {
        try await execute(
            .GET, target(port, path), headers: [:], body: nil,
            deadline: .now() + .milliseconds(Int64(seconds * 1000)))
    }
}

private func target(_ port: Int, _ path: String) -> HTTP1Target {
    HTTP1Target("http://127.0.0.1:\(port)\(path)")!
}

/// A loopback HTTP/1.1 server: `/ok` answers "ok" and keeps the connection, `/close` answers with
/// `Connection: close`, `/echo` answers the request body, `/reset` closes without a byte, `/short`
/// sends half its announced body and closes, `/stall` never answers.
private final class TestServer: Sendable {
    private let channel: any Channel
    private let counts: Locked<(connections: Int, requests: Int)>
    var port: Int { channel.localAddress?.port ?? 0 }
    var connections: Int { counts.withLock { $0.connections } }
    var requests: Int { counts.withLock { $0.requests } }

    private init(channel: any Channel, counts: Locked<(connections: Int, requests: Int)>) {
        self.channel = channel
        self.counts = counts
    }

    static func start() async throws -> TestServer {
        let counts = Locked((connections: 0, requests: 0))
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                counts.withLock { $0.connections += 1 }
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
                    try child.pipeline.syncOperations.addHandler(Answerer(counts: counts))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TestServer(channel: channel, counts: counts)
    }

    func stop() async throws { try await channel.close() }

    private final class Answerer: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = ByteBuffer
        let counts: Locked<(connections: Int, requests: Int)>
        var path = ""
        var body = ""

        init(counts: Locked<(connections: Int, requests: Int)>) { self.counts = counts }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                path = head.uri
                body = ""
            case .body(let part):
                body += String(buffer: part)
            case .end:
                counts.withLock { $0.requests += 1 }
                answer(context: context)
            }
        }

        private func answer(context: ChannelHandlerContext) {
            func send(_ text: String, close: Bool = false) {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).whenComplete { _ in
                    if close { context.close(promise: nil) }
                }
            }
            switch path {
            case "/ok": send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            case "/close": send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", close: true)
            case "/echo": send("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            case "/reset": context.close(promise: nil)
            case "/short": send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf", close: true)
            default: break  // /stall
            }
        }
    }
}
