import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1
import Tracing

/// The process-wide HTTP client. One pool serves every backend; its per-host connection
/// limit is high because each backend's own `RequestLimiter` is what bounds requests.
/// It lives as long as the process (never shut down), like `HTTPClient.shared`.
enum HTTP {
    static let client = makeClient(retryingConnections: true)

    /// For the servers of a fleet: a refused connection fails the request at once instead of
    /// waiting out the connect timeout, so the fleet routes around a dead server at once.
    static let fleetClient = makeClient(retryingConnections: false)

    private static func makeClient(retryingConnections: Bool) -> HTTPClient {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(10), read: .seconds(600))
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 4096)
        config.connectionPool.retryConnectionEstablishment = retryingConnections
        config.decompression = .enabled(limit: .ratio(50))
        // With no tracer bootstrapped, AHC would still open a no-op span per request and set its
        // attributes: 3.5% of the CPU per request against a server that answers at once (benchmarks/http).
        if config.tracing.tracer is NoOpTracer { config.tracing.tracer = nil }
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }

    static let maxBodyBytes = 32 << 20

    /// POSTs a JSON body; returns the status, headers and body. Transport errors and
    /// timeouts become retryable `BackendError`s whose kind says what happened: `timeout`,
    /// `refused` (nothing listens), `reset` (the connection broke before a reply), `truncated body`
    /// (it broke during the body). A body over `maxBodyBytes` is not retried. The API key never
    /// appears in messages.
    static func postJSON(
        _ url: String, body: String, apiKey: String?, timeout: Double,
        client: HTTPClient = client
    ) async throws -> (Int, HTTPHeaders, Data) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        request.body = .bytes(ByteBuffer(string: body))
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: deadline)
        } catch {
            throw transportError(error, url: url, timeout: timeout, apiKey: apiKey, inBody: false)
        }
        do {
            let buffer = try await response.body.collect(upTo: maxBodyBytes)
            return (Int(response.status.code), response.headers, Data(buffer.readableBytesView))
        } catch is NIOTooManyBytesError {
            throw BackendError(
                "response from \(url) is over \(maxBodyBytes >> 20) MiB", retryable: false,
                kind: "body too large")
        } catch {
            throw transportError(error, url: url, timeout: timeout, apiKey: apiKey, inBody: true)
        }
    }

    /// GETs a URL (health and properties of a server); errors as `postJSON`'s.
    static func get(
        _ url: String, apiKey: String?, timeout: Double,
        client: HTTPClient = client
    ) async throws -> (Int, HTTPHeaders, Data) {
        var request = HTTPClientRequest(url: url)
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: .now() + .milliseconds(Int64(timeout * 1000)))
            let buffer = try await response.body.collect(upTo: maxBodyBytes)
            return (Int(response.status.code), response.headers, Data(buffer.readableBytesView))
        } catch {
            throw transportError(error, url: url, timeout: timeout, apiKey: apiKey, inBody: false)
        }
    }

    private static func transportError(
        _ error: any Error, url: String, timeout: Double, apiKey: String?,
        inBody: Bool
    ) -> any Error {
        if error is CancellationError { return error }
        if let e = error as? HTTPClientError, e == .deadlineExceeded || e == .readTimeout {
            return BackendError("timeout after \(timeout.formatted) s: \(url)", retryable: true, kind: "timeout")
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
