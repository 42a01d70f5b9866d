// swift-format-ignore-file: AlwaysUseLowerCamelCase

// The exported C functions of include/parley.h: each checks its arguments, converts
// between C/JSON and the Swift core, and reports errors as status codes. No engine
// logic lives here.
import CJansson
import FoundationEssentials
import Parley

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

public typealias GenerateFn = @convention(c) (CString?, OpaquePointer?, UnsafeMutableRawPointer?) -> Int32
public typealias Handle = OpaquePointer
public typealias StringOut = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>

// MARK: Version and strings

@_cdecl("parley_version")
public func parley_version() -> CString { versionString }
nonisolated(unsafe) private let versionString: CString = UnsafePointer(strdup(ParleyVersion.string)!)

@_cdecl("parley_abi_version")
public func parley_abi_version() -> Int32 { 1 }

@_cdecl("parley_string_free")
public func parley_string_free(_ s: UnsafeMutablePointer<CChar>?) { free(s) }

@_cdecl("parley_status_name")
public func parley_status_name(_ status: Int32) -> CString {
    let name: StaticString = Status(rawValue: status)?.name ?? "unknown status code"
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}

// MARK: Configs and engines

func parseConfig(_ text: String) throws(Failure) -> Config {
    do throws(ConfigError) { return try Config.parse(text) } catch { throw Failure(error) }
}

@_cdecl("parley_config_validate")
public func parley_config_validate(_ config: CString?, _ error: ErrorOut?) -> Int32 {
    call(error) { () throws(Failure) in _ = try parseConfig(try string(config, "config_json")) }
}

@_cdecl("parley_engine_new")
public func parley_engine_new(_ config: CString?, _ out: UnsafeMutablePointer<Handle?>?, _ error: ErrorOut?) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "engine")
        out.pointee = engines.add(EngineBox(config: try parseConfig(try string(config, "config_json"))))
    }
}

@_cdecl("parley_engine_free")
public func parley_engine_free(_ engine: Handle?) -> Int32 {
    call(nil) { () throws(Failure) in _ = try engines.remove(engine, "engine") }
}

// MARK: Host backends

@_cdecl("parley_engine_set_callback")
public func parley_engine_set_callback(
    _ engine: Handle?, _ backend: CString?, _ fn: GenerateFn?,
    _ userData: UnsafeMutableRawPointer?, _ error: ErrorOut?
) -> Int32 {
    call(error) { () throws(Failure) in
        let box = try engines.get(engine, "engine")
        let name = try string(backend, "backend")
        guard let fn else { throw Failure(.argument, "fn is NULL") }
        let host = HostCallback(fn: fn, userData: UInt(bitPattern: userData))
        try box.serve(name) { config in
            CallbackBackend(
                tokenCounter: EstimatingTokenCounter(charsPerToken: config.charsPerToken), blocking: config.blocking
            ) { request in try host.generate(request) }
        }
    }
}

@_cdecl("parley_engine_use_pull")
public func parley_engine_use_pull(_ engine: Handle?, _ backend: CString?, _ error: ErrorOut?) -> Int32 {
    call(error) { () throws(Failure) in
        let box = try engines.get(engine, "engine")
        let name = try string(backend, "backend")
        try box.serve(name) { config in
            PullBackend(tokenCounter: EstimatingTokenCounter(charsPerToken: config.charsPerToken))
        }
    }
}

@_cdecl("parley_reply_set_text")
public func parley_reply_set_text(_ reply: Handle?, _ text: CString?, _ finishReason: CString?) -> Int32 {
    call(nil) { () throws(Failure) in
        let box = try replies.get(reply, "reply")
        let text = try string(text, "text")
        let finishReason = try optionalString(finishReason, "finish_reason")
        try box.set {
            $0.text = text
            $0.finishReason = finishReason
        }
    }
}

@_cdecl("parley_reply_set_usage")
public func parley_reply_set_usage(_ reply: Handle?, _ promptTokens: Int32, _ completionTokens: Int32) -> Int32 {
    call(nil) { () throws(Failure) in
        try replies.get(reply, "reply").set {
            $0.promptTokens = promptTokens >= 0 ? Int(promptTokens) : nil
            $0.completionTokens = completionTokens >= 0 ? Int(completionTokens) : nil
        }
    }
}

@_cdecl("parley_reply_set_error")
public func parley_reply_set_error(_ reply: Handle?, _ message: CString?, _ retryable: Int32) -> Int32 {
    call(nil) { () throws(Failure) in
        let box = try replies.get(reply, "reply")
        let error = BackendError(try string(message, "message"), retryable: retryable != 0, kind: "host error")
        try box.set { $0.error = error }
    }
}

@_cdecl("parley_pull_take")
public func parley_pull_take(
    _ engine: Handle?, _ backend: CString?, _ max: Int32, _ timeout: Double,
    _ out: StringOut?, _ error: ErrorOut?
) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "requests_json")
        let tickets = try pullTake(try pullBackend(engine, backend), max, timeout)
        out.pointee = newCString(HostJSON.array(tickets.map { HostJSON.request($0.request, ticket: $0.id) }))
    }
}

func pullTake(_ pull: PullBackend, _ max: Int32, _ timeout: Double) throws(Failure) -> [PullBackend.Ticket] {
    guard max >= 0 else { throw Failure(.argument, "max is negative") }
    guard timeout.isFinite, timeout >= 0 else {
        throw Failure(.argument, "timeout_seconds must be a finite number ≥ 0")
    }
    return pull.take(max: Int(max), timeout: timeout)
}

@_cdecl("parley_pull_submit")
public func parley_pull_submit(_ engine: Handle?, _ backend: CString?, _ results: CString?, _ error: ErrorOut?) -> Int32
{
    call(error) { () throws(Failure) in try pullSubmit(engine, backend, try string(results, "results_json")) }
}

func pullBackend(_ engine: Handle?, _ backend: CString?) throws(Failure) -> PullBackend {
    try engines.get(engine, "engine").pull(try string(backend, "backend"))
}

func pullSubmit(_ engine: Handle?, _ backend: CString?, _ text: String) throws(Failure) {
    let pull = try pullBackend(engine, backend)
    let answers: [(ticket: UInt64, result: Result<GenerationResult, BackendError>)]
    do throws(ConfigError) { answers = try HostJSON.answers(text) } catch { throw Failure(error) }
    try deliver(answers, to: pull)
}

/// Hands answers to the waiting dialogues: all of them, or none when a ticket is bad.
func deliver(
    _ answers: [(ticket: UInt64, result: Result<GenerationResult, BackendError>)], to pull: PullBackend
) throws(Failure) {
    let bad = pull.submit(answers)
    guard bad.isEmpty else {
        throw Failure(
            .argument,
            "unknown, repeated or already answered tickets: \(bad.map(String.init).joined(separator: ", ")); nothing "
                + "was delivered"
        )
    }
}

// MARK: Pull batches

@_cdecl("parley_pull_take_batch")
public func parley_pull_take_batch(
    _ engine: Handle?, _ backend: CString?, _ max: Int32, _ timeout: Double,
    _ out: UnsafeMutablePointer<Handle?>?, _ error: ErrorOut?
) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "batch")
        let pull = try pullBackend(engine, backend)
        out.pointee = batches.add(BatchBox(pull: pull, taken: try pullTake(pull, max, timeout)))
    }
}

@_cdecl("parley_batch_size")
public func parley_batch_size(_ batch: Handle?) -> Int32 {
    guard let box = try? batches.get(batch, "batch") else { return -1 }
    return Int32(box.count)
}

@_cdecl("parley_batch_request")
public func parley_batch_request(_ batch: Handle?, _ i: Int32) -> CString? {
    (try? batches.get(batch, "batch"))?.request(Int(i))
}

@_cdecl("parley_batch_reply")
public func parley_batch_reply(_ batch: Handle?, _ i: Int32) -> Handle? {
    (try? batches.get(batch, "batch"))?.reply(Int(i))
}

@_cdecl("parley_batch_submit")
public func parley_batch_submit(_ batch: Handle?) -> Int32 {
    call(nil) { () throws(Failure) in try batches.get(batch, "batch").submit() }
}

@_cdecl("parley_batch_free")
public func parley_batch_free(_ batch: Handle?) -> Int32 {
    call(nil) { () throws(Failure) in try batches.remove(batch, "batch").finish() }
}

// MARK: Jobs

func startJob(_ engine: Handle?, _ text: String) throws(Failure) -> JobBox {
    let box = try engines.get(engine, "engine")
    let spec: JobSpec
    do throws(ConfigError) { spec = try JobSpec.parse(text) } catch { throw Failure(error) }
    if case .file(let path) = spec.seeds, !FileManager.default.isReadableFile(atPath: path) {
        throw Failure(.io, "cannot read seeds file \(path)")
    }
    return try JobBox(engine: try box.engine(), spec: spec)
}

@_cdecl("parley_run")
public func parley_run(_ engine: Handle?, _ job: CString?, _ out: StringOut?, _ error: ErrorOut?) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "result_json")
        out.pointee = newCString(try startJob(engine, try string(job, "job_json")).wait(timeout: -1))
    }
}

@_cdecl("parley_job_start")
public func parley_job_start(
    _ engine: Handle?, _ job: CString?, _ out: UnsafeMutablePointer<Handle?>?, _ error: ErrorOut?
) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "job")
        out.pointee = jobs.add(try startJob(engine, try string(job, "job_json")))
    }
}

@_cdecl("parley_job_progress")
public func parley_job_progress(_ job: Handle?, _ out: StringOut?, _ error: ErrorOut?) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "progress_json")
        out.pointee = newCString(try jobs.get(job, "job").progress)
    }
}

@_cdecl("parley_job_cancel")
public func parley_job_cancel(_ job: Handle?) -> Int32 {
    call(nil) { () throws(Failure) in try jobs.get(job, "job").cancel() }
}

/// The job's result once it ends; a cancelled job's summary so far goes to `store`
/// before the cancellation is reported.
func waitForResult(_ job: Handle?, _ timeout: Double, store: (String) throws(Failure) -> Void) throws(Failure) {
    let box = try jobs.get(job, "job")
    guard !timeout.isNaN else { throw Failure(.argument, "timeout_seconds is NaN") }
    do throws(Failure) { try store(try box.wait(timeout: timeout)) } catch {
        if error.status == .cancelled, let partial = box.partialResult { try? store(partial) }
        throw error
    }
}

@_cdecl("parley_job_wait")
public func parley_job_wait(_ job: Handle?, _ timeout: Double, _ out: StringOut?, _ error: ErrorOut?) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "result_json")
        try waitForResult(job, timeout) { (result: String) throws(Failure) in out.pointee = newCString(result) }
    }
}

@_cdecl("parley_job_next_event")
public func parley_job_next_event(_ job: Handle?, _ timeout: Double, _ out: StringOut?, _ error: ErrorOut?) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "event_json")
        guard !timeout.isNaN else { throw Failure(.argument, "timeout_seconds is NaN") }
        out.pointee = newCString(try jobs.get(job, "job").nextEvent(timeout: timeout))
    }
}

@_cdecl("parley_job_free")
public func parley_job_free(_ job: Handle?) -> Int32 {
    call(nil) { () throws(Failure) in
        let box = try jobs.remove(job, "job")
        box.cancel()
        _ = try? box.wait(timeout: -1)
    }
}

// MARK: Shards

@_cdecl("parley_merge")
public func parley_merge(_ requestJSON: CString?, _ out: StringOut?, _ error: ErrorOut?) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "result_json")
        let text = try string(requestJSON, "request_json")
        let request: MergeRequest
        do throws(ConfigError) { request = try MergeRequest.parse(text) } catch { throw Failure(error) }
        do { out.pointee = newCString(try RunMerge.merge(request.dirs, into: request.out).json) } catch {
            switch error as? RunError {
            case .shards(let message)?, .busy(let message)?: throw Failure(.state, message)
            default: throw Failure(.io, "\(error)")
            }
        }
    }
}
