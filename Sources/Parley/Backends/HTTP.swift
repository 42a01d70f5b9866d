import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1
import Tracing

/// The process-wide HTTP clients. Plain `http` servers (llama.cpp, vLLM, fleets: where requests
/// come fast) go through `HTTP1Client`; `https` through AsyncHTTPClient, whose per-host connection
/// limit is high because each backend's own `RequestLimiter` is what bounds requests. Both live as
/// long as the process (never shut down), like `HTTPClient.shared`.
enum HTTP {
    /// One pair of clients: a request goes through the one its URL's scheme needs.
    struct Client: Sendable {
        let plain: HTTP1Client
        let secure: HTTPClient
    }

    static let client = makeClient(retryingConnections: true)

    /// For the servers of a fleet: a refused connection fails the request at once instead of
    /// waiting out the connect timeout, so the fleet routes around a dead server at once.
    static let fleetClient = makeClient(retryingConnections: false)

    private static func makeClient(retryingConnections: Bool) -> Client {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(HTTP1Client.connectSeconds), read: .seconds(600))
        config.connectionPool = .init(
            idleTimeout: .seconds(HTTP1Client.idleSeconds), concurrentHTTP1ConnectionsPerHostSoftLimit: 4096)
        config.connectionPool.retryConnectionEstablishment = retryingConnections
        config.decompression = .enabled(limit: .ratio(50))
        // With no tracer bootstrapped, AHC would still open a no-op span per request and set its
        // attributes: 3.5% of the CPU per request against a server that answers at once (benchmarks/http).
        if config.tracing.tracer is NoOpTracer { config.tracing.tracer = nil }
        return Client(
            plain: HTTP1Client(retryingConnections: retryingConnections),
            secure: HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config))
    }

    static let maxBodyBytes = 32 << 20

    /// A URL a backend posts to again and again, read once: parsing it at each request was 0.9% of a request's
    /// CPU over HTTP (perf of `benchmarks/http`).
    struct Destination: Sendable {
        let url: String
        /// Where a plain-`http` URL goes; nil: another scheme, for AsyncHTTPClient.
        let plain: HTTP1Target?

        init(_ url: String) {
            self.url = url
            plain = HTTP1Target(url)
        }
    }

    /// A JSON body as the clients send it, copied once from the writer's buffer.
    static func body(_ json: consuming JSONWriter) -> ByteBuffer { json.withBytes { ByteBuffer(bytes: $0) } }

    /// POSTs a JSON body; returns the status, headers and body. Transport errors and
    /// timeouts become retryable `BackendError`s whose kind says what happened: `timeout`,
    /// `refused` (nothing listens), `reset` (the connection broke before a reply), `truncated body`
    /// (it broke during the body). A body over `maxBodyBytes` is not retried. The API key never
    /// appears in messages.
    nonisolated(nonsending) static func postJSON(
        _ to: Destination, body: ByteBuffer, apiKey: String?, timeout: Double,
        client: Client = client
    ) async throws -> (Int, HTTPHeaders, Data) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        if let apiKey { headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        return try await send(.POST, to, headers: headers, body: body, apiKey: apiKey, timeout: timeout, client: client)
    }

    /// `postJSON` to a URL posted to once, with a body as text.
    nonisolated(nonsending) static func postJSON(
        _ url: String, body: String, apiKey: String?, timeout: Double,
        client: Client = client
    ) async throws -> (Int, HTTPHeaders, Data) {
        try await postJSON(
            Destination(url), body: ByteBuffer(string: body), apiKey: apiKey, timeout: timeout, client: client)
    }

    /// GETs a URL (health and properties of a server); errors as `postJSON`'s.
    nonisolated(nonsending) static func get(
        _ url: String, apiKey: String?, timeout: Double,
        client: Client = client
    ) async throws -> (Int, HTTPHeaders, Data) {
        var headers = HTTPHeaders()
        if let apiKey { headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        return try await send(
            .GET, Destination(url), headers: headers, body: nil, apiKey: apiKey, timeout: timeout, client: client)
    }

    nonisolated(nonsending) private static func send(
        _ method: HTTPMethod, _ to: Destination, headers: HTTPHeaders, body: ByteBuffer?, apiKey: String?,
        timeout: Double, client: Client
    ) async throws -> (Int, HTTPHeaders, Data) {
        let url = to.url
        // The one header value from outside Parley: a line break in it would split the request
        // (HTTP1Client leaves header checks to this).
        if let apiKey, apiKey.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw BackendError(
                "the API key (api_key_env) holds a line break or another control character", retryable: false,
                kind: "bad api key")
        }
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        if let target = to.plain {
            do {
                let reply = try await client.plain.execute(
                    method, target, headers: headers, body: body, deadline: deadline)
                return (reply.status, reply.headers, Data(reply.body.readableBytesView))
            } catch {
                throw transportError(error, url: url, timeout: timeout, apiKey: apiKey, inBody: false)
            }
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers = headers
        if let body { request.body = .bytes(body) }
        let response: HTTPClientResponse
        do {
            response = try await client.secure.execute(request, deadline: deadline)
        } catch {
            throw transportError(error, url: url, timeout: timeout, apiKey: apiKey, inBody: false)
        }
        do {
            let buffer = try await response.body.collect(upTo: maxBodyBytes)
            return (Int(response.status.code), response.headers, Data(buffer.readableBytesView))
        } catch {
            throw transportError(error, url: url, timeout: timeout, apiKey: apiKey, inBody: true)
        }
    }

    private static func transportError(
        _ error: any Error, url: String, timeout: Double, apiKey: String?,
        inBody: Bool
    ) -> any Error {
        var inBody = inBody
        let timedOut = BackendError("timeout after \(timeout.formatted) s: \(url)", retryable: true, kind: "timeout")
        switch error {
        case is CancellationError:
            return error
        case HTTP1Failure.timeout:
            return timedOut
        case let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout:
            return timedOut
        case HTTP1Failure.tooLarge, is NIOTooManyBytesError:
            return BackendError(
                "response from \(url) is over \(maxBodyBytes >> 20) MiB", retryable: false, kind: "body too large")
        case HTTP1Failure.truncated(_):
            inBody = true
        default:
            break
        }
        let text = redact("\(error)", apiKey)
        // Each message names its kind, so a failure after one attempt says what it met too.
        if inBody {
            return BackendError(
                "truncated body from \(url): the connection broke during the body: \(text)",
                retryable: true, kind: "truncated body")
        }
        if text.lowercased().contains("refused") {
            return BackendError("cannot reach \(url) (refused): \(text)", retryable: true, kind: "refused")
        }
        return BackendError("connection reset by \(url) before a reply: \(text)", retryable: true, kind: "reset")
    }

    /// Turns a non-2xx status into a `BackendError`: 408, 409, 429 and 5xx are retryable.
    /// A server that echoes the API key in its error body does not get it into the message.
    static func statusError(
        _ status: Int, headers: HTTPHeaders, body: Data, url: String,
        apiKey: String?
    ) -> BackendError {
        let retryable = status == 408 || status == 409 || status == 429 || status >= 500
        var detail = String(decoding: body.prefix(300), as: UTF8.self).replacing("\n", with: " ")
        if let v = try? JSONDecoder().decode(ErrorBody.self, from: body), let m = v.error?.message ?? v.message {
            detail = m
        }
        return BackendError(
            "HTTP \(status) from \(url): \(redact(detail, apiKey))", retryable: retryable,
            retryAfter: RetryPolicy.parseRetryAfter(headers.first(name: "Retry-After")),
            kind: "HTTP \(status)")
    }

    /// Throws `statusError` unless the status is 2xx.
    static func requireSuccess(_ status: Int, headers: HTTPHeaders, body: Data, url: String, apiKey: String?) throws {
        if status / 100 != 2 { throw statusError(status, headers: headers, body: body, url: url, apiKey: apiKey) }
    }

    /// `text` with every occurrence of the key replaced.
    static func redact(_ text: String, _ apiKey: String?) -> String {
        guard let apiKey, !apiKey.isEmpty, text.contains(apiKey) else { return text }
        return text.replacing(apiKey, with: "[api key]")
    }

    private struct ErrorBody: Decodable {
        struct Inner: Decodable { var message: String? }
        var error: Inner?
        var message: String?
    }
}
