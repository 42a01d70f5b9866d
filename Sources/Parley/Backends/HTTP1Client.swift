import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOPosix

/// The client of plain-`http` servers (llama.cpp, vLLM, a fleet of them): HTTP/1.1 connections kept
/// alive per host and port, each request written in one flush and read whole. `https` goes through
/// AsyncHTTPClient (`HTTP.postJSON`): against a stub server on loopback a run through it took 120 CPU µs
/// a request against 74.5 through this client, mostly for the thread switches its pool makes.
final class HTTP1Client: Sendable {
    /// A connection waits at most this long to be reused; an older one is closed when next seen.
    static let idleSeconds: Int64 = 60
    static let connectSeconds: Int64 = 10

    /// Retry a refused connection (with backoff, until `connectSeconds` or the request's deadline)
    /// rather than fail the request at once: what one server that is starting up needs; a fleet
    /// routes around a dead server instead.
    private let retryingConnections: Bool
    private let loops = MultiThreadedEventLoopGroup.singleton
    /// Kept-alive connections by authority, then by event loop.
    private let idle = Locked<[String: [ObjectIdentifier: [Idle]]]>([:])

    private struct Idle {
        var channel: any Channel
        var since: NIODeadline
    }

    init(retryingConnections: Bool) {
        self.retryingConnections = retryingConnections
    }

    /// Sends one request and returns the whole response.
    /// - Parameters:
    ///   - target: an `http` URL's parts (`HTTP1Target(url)`).
    ///   - headers: sent as given, after `Host` and `Content-Length`.
    ///   - body: nil: none (a GET).
    /// - Throws: `HTTP1Failure`, or `CancellationError` when the task is cancelled.
    nonisolated(nonsending) func execute(
        _ method: HTTPMethod, _ target: HTTP1Target, headers: HTTPHeaders, body: ByteBuffer?, deadline: NIODeadline
    ) async throws -> HTTP1Reply {
        let channel = try await connection(to: target, deadline: deadline)
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: target.path)
        head.headers.reserveCapacity(headers.count + 2)
        head.headers.add(name: "Host", value: target.authority)
        head.headers.add(name: "Content-Length", value: String(body?.readableBytes ?? 0))
        head.headers.add(contentsOf: headers)
        let reply = channel.eventLoop.makePromise(of: HTTP1Reply.self)
        // A write that never reaches the handler (the connection closed meanwhile) fails the exchange too.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { reply.fail(HTTP1Failure.reset("\($0)")) }
        channel.writeAndFlush(HTTP1Exchange(head: head, body: body, deadline: deadline, reply: reply), promise: written)
        do {
            let answer = try await withTaskCancellationHandler {
                try await reply.futureResult.get()
            } onCancel: {
                channel.close(promise: nil)
            }
            if answer.keepAlive {
                checkIn(channel, key: target.authority)
            } else {
                channel.close(promise: nil)
            }
            return answer
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw error
        }
    }

    /// A kept-alive connection to the target, or a new one. One of the caller's event loop comes first:
    /// where tasks run on NIO's event loops (the CLI), the request then goes and comes back without a
    /// thread switch (`benchmarks/http`: Parley's HTTP path 82.5 → 52.5 CPU µs a request). Another
    /// loop's comes next, so that there are never more connections than requests.
    nonisolated(nonsending) private func connection(to target: HTTP1Target, deadline: NIODeadline) async throws
        -> any Channel
    {
        let here = MultiThreadedEventLoopGroup.currentEventLoop.map { ObjectIdentifier($0) }
        let now = NIODeadline.now()
        var expired: [any Channel] = []
        let reused = idle.withLock { pool -> (any Channel)? in
            while let entry = Self.take(from: &pool[target.authority, default: [:]], preferring: here) {
                guard entry.channel.isActive else { continue }
                guard now - entry.since < .seconds(Self.idleSeconds) else {
                    expired.append(entry.channel)
                    continue
                }
                return entry.channel
            }
            return nil
        }
        for channel in expired { channel.close(promise: nil) }
        if let reused { return reused }
        return try await connect(to: target, deadline: deadline)
    }

    /// The most recently used connection of the loop `here`, else of any loop.
    private static func take(from byLoop: inout [ObjectIdentifier: [Idle]], preferring here: ObjectIdentifier?)
        -> Idle?
    {
        if let here, let entry = byLoop[here]?.popLast() { return entry }
        guard let loop = byLoop.first(where: { !$0.value.isEmpty })?.key else { return nil }
        return byLoop[loop]?.popLast()
    }

    private func checkIn(_ channel: any Channel, key: String) {
        guard channel.isActive else { return }
        let entry = Idle(channel: channel, since: .now())
        idle.withLock { $0[key, default: [:]][ObjectIdentifier(channel.eventLoop), default: []].append(entry) }
    }

    nonisolated(nonsending) private func connect(to target: HTTP1Target, deadline: NIODeadline) async throws
        -> any Channel
    {
        let giveUp = min(deadline, .now() + .seconds(Self.connectSeconds))
        var backoff = TimeAmount.milliseconds(50)
        while true {
            do {
                return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.currentEventLoop ?? loops)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connectTimeout(max(giveUp - .now(), .milliseconds(1)))
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            // The headers are Parley's own, and `HTTP.send` checks the one value from outside
                            // (the API key) before each request: NIO's check of every header of every request
                            // was about 1% of a run's CPU in perf.
                            try channel.pipeline.syncOperations.addHTTPClientHandlers(
                                enableOutboundHeaderValidation: false)
                            try channel.pipeline.syncOperations.addHandler(HTTP1ExchangeHandler())
                        }
                    }
                    .connect(host: target.host, port: target.port)
                    .get()
            } catch {
                let text = "\(error)"
                guard text.lowercased().contains("refused") else {
                    if NIODeadline.now() >= giveUp { throw HTTP1Failure.timeout }
                    throw HTTP1Failure.reset(text)
                }
                guard retryingConnections, NIODeadline.now() + backoff < giveUp else {
                    throw HTTP1Failure.refused(text)
                }
                try await Task.sleep(nanoseconds: UInt64(backoff.nanoseconds))
                backoff = min(backoff * 2, .seconds(1))
            }
        }
    }
}

/// The parts of an `http://host[:port]/path` URL a request needs.
struct HTTP1Target: Sendable {
    /// `host[:port]` as written: the `Host` header and the pool's key.
    var authority: String
    var host: String
    var port: Int
    /// Path and query, `/` when empty.
    var path: String

    /// nil: not a plain `http` URL with a host.
    init?(_ url: String) {
        // Read as UTF-8 bytes: the delimiters are ASCII, and stepping by Character cost 1.7 µs a
        // request (perf of `parley synth` against a stub server).
        let bytes = url.utf8
        guard bytes.prefix(4).elementsEqual("http".utf8, by: { $0 | 0x20 == $1 }),
            bytes.dropFirst(4).starts(with: "://".utf8)
        else { return nil }
        let rest = bytes.index(bytes.startIndex, offsetBy: 7)
        let end = bytes[rest...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.endIndex
        authority = String(url[rest..<end])
        if end == bytes.endIndex {
            path = "/"
        } else {
            path = bytes[end] == UInt8(ascii: "?") ? "/" + url[end...] : String(url[end...])
        }
        let a = authority.utf8
        var hostRange = a.startIndex..<a.endIndex
        var portText: Substring?
        if a.first == UInt8(ascii: "[") {  // an IPv6 literal
            guard let close = a.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let after = a.index(after: close)
            if after < a.endIndex, a[after] == UInt8(ascii: ":") { portText = authority[a.index(after: after)...] }
            hostRange = a.index(after: a.startIndex)..<close
        } else if let colon = a.lastIndex(of: UInt8(ascii: ":")) {
            portText = authority[a.index(after: colon)...]
            hostRange = a.startIndex..<colon
        }
        guard !hostRange.isEmpty, !a[hostRange].contains(UInt8(ascii: "@")) else { return nil }
        host = String(authority[hostRange])
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            port = 80
        }
    }
}
