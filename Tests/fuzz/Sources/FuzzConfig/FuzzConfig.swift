import Parley

/// The config parser: any bytes give a Config or a ConfigError with paths, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do throws(ConfigError) {
        let config = try Config.parse(text)
        _ = config.fingerprint
    } catch {
        precondition(!error.issues.isEmpty || error.malformed, "a config error without a problem")
    }
    return 0
}
