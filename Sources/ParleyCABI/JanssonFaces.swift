// swift-format-ignore-file: AlwaysUseLowerCamelCase

// The json_t faces: each converts jansson values to and from JSON text and calls the
// text face. Arguments are borrowed (reference counts untouched); results are new
// references the caller json_decref()s.
import CJansson
import FoundationEssentials

/// jansson randomises its hash seed on first use; seeding it once, before any thread
/// of ours uses it, avoids a race inside jansson.
private let janssonSeeded: Void = json_object_seed(0)

func text(of json: UnsafePointer<json_t>?, _ what: String) throws(Failure) -> String {
    _ = janssonSeeded
    guard let json else { throw Failure(.argument, "\(what) is NULL") }
    guard let dumped = json_dumps(json, Int(JSON_COMPACT) | Int(JSON_ENCODE_ANY)) else {
        throw Failure(.json, "\(what) cannot be written as JSON")
    }
    defer { free(dumped) }
    return String(cString: dumped)
}

func storeJSON(_ text: String, _ out: UnsafeMutablePointer<UnsafeMutablePointer<json_t>?>) throws(Failure) {
    _ = janssonSeeded
    var error = json_error_t()
    guard let value = json_loads(text, Int(JSON_DECODE_ANY), &error) else {
        let reason = withUnsafeBytes(of: error.text) {
            String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        throw Failure(.internal, "the library produced JSON jansson cannot read: \(reason)")
    }
    out.pointee = value
}

public typealias JSONOut = UnsafeMutablePointer<UnsafeMutablePointer<json_t>?>

@_cdecl("parley_config_validate_json")
public func parley_config_validate_json(_ config: UnsafePointer<json_t>?, _ error: ErrorOut?) -> Int32 {
    call(error) { () throws(Failure) in _ = try parseConfig(try text(of: config, "config")) }
}

@_cdecl("parley_engine_new_json")
public func parley_engine_new_json(
    _ config: UnsafePointer<json_t>?, _ out: UnsafeMutablePointer<Handle?>?, _ error: ErrorOut?
) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "engine")
        out.pointee = engines.add(EngineBox(config: try parseConfig(try text(of: config, "config"))))
    }
}

@_cdecl("parley_pull_take_json")
public func parley_pull_take_json(
    _ engine: Handle?, _ backend: CString?, _ max: Int32, _ timeout: Double,
    _ out: JSONOut?, _ error: ErrorOut?
) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "requests")
        let tickets = try pullTake(try pullBackend(engine, backend), max, timeout)
        _ = janssonSeeded
        guard let requests = json_array() else { throw Failure(.internal, "out of memory") }
        for t in tickets { json_array_append_new(requests, JanssonValues.request(t.request, ticket: t.id)) }
        out.pointee = requests
    }
}

@_cdecl("parley_pull_submit_json")
public func parley_pull_submit_json(
    _ engine: Handle?, _ backend: CString?, _ results: UnsafePointer<json_t>?, _ error: ErrorOut?
) -> Int32 {
    call(error) { () throws(Failure) in
        guard let results else { throw Failure(.argument, "results is NULL") }
        if let answers = JanssonValues.plainAnswers(results) {
            try deliver(answers, to: try pullBackend(engine, backend))
        } else {
            try pullSubmit(engine, backend, try text(of: results, "results"))
        }
    }
}

@_cdecl("parley_run_json")
public func parley_run_json(_ engine: Handle?, _ job: UnsafePointer<json_t>?, _ out: JSONOut?, _ error: ErrorOut?)
    -> Int32
{
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "result")
        try storeJSON(try startJob(engine, try text(of: job, "job")).wait(timeout: -1), out)
    }
}

@_cdecl("parley_job_start_json")
public func parley_job_start_json(
    _ engine: Handle?, _ job: UnsafePointer<json_t>?, _ out: UnsafeMutablePointer<Handle?>?, _ error: ErrorOut?
) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "job")
        out.pointee = jobs.add(try startJob(engine, try text(of: job, "job")))
    }
}

@_cdecl("parley_job_wait_json")
public func parley_job_wait_json(_ job: Handle?, _ timeout: Double, _ out: JSONOut?, _ error: ErrorOut?) -> Int32 {
    call(error) { () throws(Failure) in
        let out = try requireOut(out, "result")
        try waitForResult(job, timeout) { (result: String) throws(Failure) in try storeJSON(result, out) }
    }
}
