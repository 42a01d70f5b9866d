import Foundation
import ParleyCABI

/// The host answer paths of the C ABI, with bytes from the fuzzer: the first byte picks
///   even: a pull answer list (`parley_pull_submit`) for a request really taken from a running
///         job, "TICKET" in the input replaced by its ticket;
///   odd:  a callback's reply (`parley_reply_set_text` / `_usage` / `_error`) from inside a real
///         callback of a running job, then the same reply handle used after the callback returned.
/// Every call must return one of the header's codes, with a message when it fails, and the jobs
/// must go on: the process never dies.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] % 2 == 0 { Pull.shared.answer(rest) } else { Callback.shared.reply(rest) }
    return 0
}

/// A status from the library: a known code, and a message exactly when it is not OK.
func check(_ status: Int32, _ error: UnsafeMutablePointer<CChar>?, _ what: String) {
    precondition(status >= 0 && status < 9, "\(what) returned \(status)")  // 9: PARLEY_ERR_INTERNAL, a bug
    precondition((status == 0) == (error == nil), "\(what): status \(status) with message \(error != nil)")
    parley_string_free(error)
}

/// NUL-terminated copy of the bytes (an inner NUL ends the C string early, as it would for C).
func cString(_ bytes: [UInt8]) -> [CChar] { bytes.map { CChar(bitPattern: $0) } + [0] }

/// Both roles on one host backend, `concurrency` requests at a time; free seeds and one exchange.
func config(_ backend: String, concurrency: Int) -> String {
    #"{"backends": {"\#(backend)": {"type": "host", "max_retries": 0, "max_concurrency": \#(concurrency)}},"#
        + #" "roles": {"asker": {"backend": "\#(backend)", "endpoint": "completion", "max_tokens": 8},"#
        + #" "assistant": {"backend": "\#(backend)", "max_tokens": 8}},"#
        + #" "turns": {"max": 1}, "run": {"concurrency": \#(concurrency)}}"#
}

/// An engine with a job that keeps asking (100,000 seeds, started again when done).
final class Host: @unchecked Sendable {
    let engine: OpaquePointer
    private var job: OpaquePointer?
    private let out = NSTemporaryDirectory() + "parley-fuzz-host-\(getpid())-\(UUID().uuidString)"

    init(backend: String, concurrency: Int, serve: (OpaquePointer) -> Int32) {
        var engine: OpaquePointer?
        var error: UnsafeMutablePointer<CChar>?
        check(parley_engine_new(config(backend, concurrency: concurrency), &engine, &error), error, "engine_new")
        self.engine = engine!
        check(serve(self.engine), nil, "serve")
        let seeds = out + "-seeds.jsonl"
        FileManager.default.createFile(atPath: seeds, contents: Data(String(repeating: "{}\n", count: 100_000).utf8))
        jobText = #"{"seeds_file": "\#(seeds)", "out": "\#(out)", "fresh": true, "return": "summary"}"#
    }

    private let jobText: String

    /// Starts the job again when it has ended.
    func keepRunning() {
        if let job {
            var progress: UnsafeMutablePointer<CChar>?
            var error: UnsafeMutablePointer<CChar>?
            check(parley_job_progress(job, &progress, &error), error, "job_progress")
            let running = progress.map { String(cString: $0).contains(#""state":"running""#) } ?? false
            parley_string_free(progress)
            if running { return }
            _ = parley_job_free(job)
            self.job = nil
        }
        var error: UnsafeMutablePointer<CChar>?
        check(parley_job_start(engine, jobText, &job, &error), error, "job_start")
    }
}

/// The pull path: take one request, answer it with the fuzzer's bytes, then properly.
final class Pull: @unchecked Sendable {
    static let shared = Pull()
    // Many requests waiting, so a take never waits for the next to be made.
    let host = Host(backend: "p", concurrency: 32) { parley_engine_use_pull($0, "p", nil) }

    func answer(_ bytes: [UInt8]) {
        host.keepRunning()
        var taken: UnsafeMutablePointer<CChar>?
        var error: UnsafeMutablePointer<CChar>?
        check(parley_pull_take(host.engine, "p", 1, 5, &taken, &error), error, "pull_take")
        let text = taken.map { String(cString: $0) } ?? "[]"
        parley_string_free(taken)
        guard let ticket = text.firstMatch(of: /"ticket":(\d+)/)?.1 else { return }
        let answer = String(decoding: bytes, as: UTF8.self).replacing("TICKET", with: ticket)
        error = nil
        let raw = answer == String(decoding: bytes, as: UTF8.self) ? cString(bytes) : Array(answer.utf8CString)
        check(parley_pull_submit(host.engine, "p", raw, &error), error, "pull_submit")
        // Answered now if the fuzzer's answer was refused; an argument error if it was delivered.
        error = nil
        let status = parley_pull_submit(host.engine, "p", #"[{"ticket": \#(ticket), "text": "ok"}]"#, &error)
        precondition(status == 0 || status == 1, "a proper answer returned \(status)")
        check(status, error, "pull_submit (proper)")
    }
}

/// The callback path: the fuzzer's thread hands its bytes to the callback thread and waits.
final class Callback: @unchecked Sendable {
    static let shared = Callback()
    // One request at a time: the previous callback has returned when the next begins.
    let host = Host(backend: "c", concurrency: 1) { parley_engine_set_callback($0, "c", onRequest, nil, nil) }
    let handed = DispatchSemaphore(value: 0)
    let used = DispatchSemaphore(value: 0)
    var bytes: [UInt8] = []
    var staleReply: OpaquePointer?

    func reply(_ bytes: [UInt8]) {
        host.keepRunning()
        self.bytes = bytes
        handed.signal()
        // A callback that never comes (the job ended in between) releases us after a while.
        if used.wait(timeout: .now() + 10) == .timedOut { _ = handed.wait(timeout: .now()) }
    }
}

/// Replies with the fuzzer's bytes: the first picks text, usage, error or nothing; the rest is the text.
private let onRequest: GenerateFn = { _, reply, _ in
    let callback = Callback.shared
    callback.handed.wait()
    // The previous callback's reply handle (one request at a time: it has returned): refused
    // as a dead handle, never used.
    if let stale = callback.staleReply {
        let status = parley_reply_set_text(stale, "late", nil)
        precondition(status == 4, "a stale reply handle returned \(status)")
    }
    let bytes = callback.bytes
    let choice = bytes.first ?? 0
    let text = cString(Array(bytes.dropFirst()))
    var status: Int32 = 0
    switch choice % 5 {
    case 0: status = parley_reply_set_text(reply, text, nil)
    case 1: status = parley_reply_set_text(reply, text, text)
    case 2:
        status = parley_reply_set_text(reply, text, "stop")
        _ = parley_reply_set_usage(reply, Int32(truncatingIfNeeded: Int(choice) - 100), Int32(choice))
    case 3: status = parley_reply_set_error(reply, text, Int32(choice & 1))
    default: status = parley_reply_set_text(nil, text, nil)  // a NULL reply handle
    }
    precondition(status >= 0 && status < 9, "reply call returned \(status)")
    callback.staleReply = reply
    callback.used.signal()
    return Int32(choice % 3)  // non-zero returns too
}
