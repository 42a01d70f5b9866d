import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The process-wide HTTP client. One pool serves every backend; its per-host connection
/// limit is high because each backend's own `RequestLimiter` is what bounds requests.
/// It lives as long as the process (never shut down), like `HTTPClient.shared`.
enum HTTP {
    static let client: HTTPClient = {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(10), read: .seconds(600))
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 4096)
        config.decompression = .enabled(limit: .ratio(50))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }()

    static let maxBodyBytes = 32 << 20

    /// POSTs a JSON body; returns the status, headers and body. Transport errors and
    /// timeouts become retryable `BackendError`s; the API key never appears in messages.
    static func postJSON(_ url: String, body: String, apiKey: String?, timeout: Double) async throws -> (Int, HTTPHeaders, Data) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        request.body = .bytes(ByteBuffer(string: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            let buffer = try await response.body.collect(upTo: maxBodyBytes)
            return (Int(response.status.code), response.headers, Data(buffer.readableBytesView))
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw BackendError("timeout after \(timeout.formatted) s: \(url)", retryable: true)
        } catch {
            throw BackendError("cannot reach \(url): \(error)", retryable: true)
        }
    }

    /// Turns a non-2xx status into a `BackendError`: 408, 409, 429 and 5xx are retryable.
    static func statusError(_ status: Int, headers: HTTPHeaders, body: Data, url: String) -> BackendError {
        let retryable = status == 408 || status == 409 || status == 429 || status >= 500
        var detail = String(decoding: body.prefix(300), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
        if let v = try? JSONDecoder().decode(ErrorBody.self, from: body), let m = v.error?.message ?? v.message { detail = m }
        return BackendError("HTTP \(status) from \(url): \(detail)", retryable: retryable,
                            retryAfter: RetryPolicy.parseRetryAfter(headers.first(name: "Retry-After")))
    }

    private struct ErrorBody: Decodable {
        struct Inner: Decodable { var message: String? }
        var error: Inner?
        var message: String?
    }
}
