import Parley
import Synchronization

/// A request's answer as the host writes it: through a callback's reply during the call, or through a pull
/// batch's until it is delivered. Locked, because a batch's replies may be set on several host threads while
/// another thread submits the batch.
final class ReplyBox: Sendable {
    struct Answer {
        var text: String?
        var finishReason: String?
        var promptTokens: Int?
        var completionTokens: Int?
        var error: BackendError?
        /// Handed to its dialogue: a reply is delivered once and cannot be set after that.
        var delivered = false

        /// The answer when it has one (an error wins over a text), nil before either is set.
        var result: Result<GenerationResult, BackendError>? {
            if let error { return .failure(error) }
            guard let text else { return nil }
            return .success(
                GenerationResult(
                    text: text, finishReason: finishReason, promptTokens: promptTokens,
                    completionTokens: completionTokens))
        }
    }
    private let answer = Mutex(Answer())

    /// Changes the answer; a delivered one is a state error.
    func set(_ change: (inout Answer) -> Void) throws(Failure) {
        let delivered = answer.withLock { a in
            if !a.delivered { change(&a) }
            return a.delivered
        }
        if delivered { throw Failure(.state, "this reply was already delivered; it cannot be changed") }
    }

    /// The answer so far, read without delivering it.
    var current: Answer { answer.withLock { $0 } }

    /// The result, marked delivered; nil when it was delivered before, or has none yet and `unanswered` is nil.
    /// - Parameter unanswered: the failure to deliver when the host set no answer (a batch freed unanswered).
    func deliver(unanswered: BackendError?) -> Result<GenerationResult, BackendError>? {
        answer.withLock { a in
            guard !a.delivered, let result = a.result ?? unanswered.map({ .failure($0) }) else { return nil }
            a.delivered = true
            return result
        }
    }
}
