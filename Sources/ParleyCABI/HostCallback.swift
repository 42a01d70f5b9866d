import FoundationEssentials
import Parley
import Synchronization

/// A host's C callback as a blocking generate function (run on `BlockingPool` threads).
struct HostCallback: Sendable {
    let fn: GenerateFn
    /// The host's `user_data`, passed back untouched (kept as an integer to cross threads).
    let userData: UInt
    private let tickets = TicketCounter()

    init(fn: GenerateFn, userData: UInt) {
        self.fn = fn
        self.userData = userData
    }

    func generate(_ request: GenerationRequest) throws -> GenerationResult {
        let reply = ReplyBox()
        let handle = replies.add(reply)
        defer { _ = try? replies.remove(handle, "reply") }
        // Handed over from the writer's buffer: no `String` made (and its UTF-8 checked) on the way.
        var json = HostJSON.writer(for: request)
        HostJSON.write(request, ticket: tickets.next(), into: &json)
        let status = json.withCString { fn($0, handle, UnsafeMutableRawPointer(bitPattern: userData)) }
        let answer = reply.current.result
        if case .failure(let error)? = answer { throw error }
        guard status == 0 else {
            throw BackendError("callback returned \(status)", retryable: false, kind: "host error")
        }
        guard case .success(let result)? = answer else {
            throw BackendError("callback returned 0 without a reply", retryable: false, kind: "host error")
        }
        return result
    }
}

final class TicketCounter: Sendable {
    private let value = Atomic<UInt64>(0)
    func next() -> UInt64 { value.add(1, ordering: .relaxed).newValue }
}
