// The C ABI's status codes and the plumbing every entry point shares: reading C
// strings safely, reporting errors through `char **error`, returning new strings.
import FoundationEssentials
import Parley

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

public typealias CString = UnsafePointer<CChar>
public typealias ErrorOut = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>

/// Mirrors the PARLEY_OK / PARLEY_ERR_* codes of include/parley.h.
enum Status: Int32 {
    case ok = 0
    case argument, json, config, handle, io, timeout, cancelled, state, `internal`

    var name: StaticString {
        switch self {
        case .ok: "PARLEY_OK"
        case .argument: "PARLEY_ERR_ARGUMENT: a NULL pointer, invalid UTF-8 or a bad number"
        case .json: "PARLEY_ERR_JSON: malformed JSON or a value of the wrong type"
        case .config: "PARLEY_ERR_CONFIG: the config is invalid"
        case .handle: "PARLEY_ERR_HANDLE: an unknown or already freed handle"
        case .io: "PARLEY_ERR_IO: a file could not be read or written"
        case .timeout: "PARLEY_ERR_TIMEOUT: nothing happened within the timeout"
        case .cancelled: "PARLEY_ERR_CANCELLED: the job was cancelled"
        case .state: "PARLEY_ERR_STATE: not possible now"
        case .internal: "PARLEY_ERR_INTERNAL: a bug in Parley"
        }
    }
}

/// A failed call: its status and message.
struct Failure: Error {
    var status: Status
    var message: String
    init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    /// A config or job problem: unparseable text or a top-level value of the wrong kind
    /// is `json`; anything found inside a proper object is `config`.
    init(_ error: ConfigError) { self.init(error.malformed ? .json : .config, error.description) }
}

/// Runs an entry point's body; a thrown `Failure` becomes its status and `*error`.
func call(_ errorOut: ErrorOut?, _ body: () throws(Failure) -> Void) -> Int32 {
    do throws(Failure) {
        try body()
        return Status.ok.rawValue
    } catch {
        errorOut?.pointee = newCString(error.message)
        return error.status.rawValue
    }
}

/// A borrowed C string as Swift text: NULL and invalid UTF-8 are argument errors.
func string(_ p: CString?, _ what: String) throws(Failure) -> String {
    guard let p else { throw Failure(.argument, "\(what) is NULL") }
    guard let s = String(validatingCString: p) else { throw Failure(.argument, "\(what) is not valid UTF-8") }
    return s
}

func optionalString(_ p: CString?, _ what: String) throws(Failure) -> String? {
    guard p != nil else { return nil }
    return try string(p, what)
}

/// A new C string the caller frees with parley_string_free().
func newCString(_ s: String) -> UnsafeMutablePointer<CChar>? { strdup(s) }

func requireOut<T>(_ p: UnsafeMutablePointer<T>?, _ what: String) throws(Failure) -> UnsafeMutablePointer<T> {
    guard let p else { throw Failure(.argument, "\(what) is NULL") }
    return p
}
