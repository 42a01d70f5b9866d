import Parley

/// Requests taken from a pull queue as a batch: each request's JSON text, kept where the host reads it, and
/// a reply for each, set with the parley_reply_ functions. No JSON tree per request (~77 allocations for an
/// 8-message prompt in the json_t face) and no ticket looked up: answers go by position.
final class BatchBox: @unchecked Sendable {  // `texts` are written in init and only read after
    private let pull: PullBackend
    private let tickets: [UInt64]
    /// NUL-terminated, one per request, deallocated with the batch.
    private let texts: [UnsafeMutablePointer<CChar>]
    private let answers: [ReplyBox]
    /// The answers' handles in `replies`, dropped when the batch is finished.
    private let replyHandles: [OpaquePointer]

    init(pull: PullBackend, taken: [PullBackend.Ticket]) {
        self.pull = pull
        tickets = taken.map(\.id)
        texts = taken.map { ticket in
            var json = HostJSON.writer(for: ticket.request)
            HostJSON.write(ticket.request, ticket: ticket.id, into: &json)
            return json.cString()
        }
        answers = taken.map { _ in ReplyBox() }
        replyHandles = answers.map { replies.add($0) }
    }

    deinit { for text in texts { UnsafeMutableRawPointer(text).deallocate() } }

    var count: Int { tickets.count }

    func request(_ i: Int) -> CString? { texts.indices.contains(i) ? CString(texts[i]) : nil }

    func reply(_ i: Int) -> OpaquePointer? { replyHandles.indices.contains(i) ? replyHandles[i] : nil }

    /// Delivers the answers set and not delivered yet.
    func submit() { deliver(unanswered: nil) }

    /// Delivers what is answered and fails what is not (retryable: it is asked again), after dropping the
    /// reply handles, so that a host thread still holding one finds it freed.
    func finish() {
        for handle in replyHandles { _ = try? replies.remove(handle, "reply") }
        let unanswered = BackendError("the host freed its batch without answering", retryable: true, kind: "host error")
        deliver(unanswered: unanswered)
    }

    private func deliver(unanswered: BackendError?) {
        var delivered: [(ticket: UInt64, result: Result<GenerationResult, BackendError>)] = []
        for (ticket, answer) in zip(tickets, answers) {
            if let result = answer.deliver(unanswered: unanswered) { delivered.append((ticket, result)) }
        }
        if !delivered.isEmpty { pull.answer(delivered) }
    }
}
