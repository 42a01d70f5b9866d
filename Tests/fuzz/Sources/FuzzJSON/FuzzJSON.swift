import Parley

/// The JSON parser: any bytes parse or fail with a message; what parses prints as canonical
/// text that parses back to the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let value = try? JSONValue.parse(text) else { return 0 }
    let printed = value.canonicalText
    guard let again = try? JSONValue.parse(printed) else { preconditionFailure("canonical text does not parse: \(printed)") }
    precondition(again.canonicalText == printed, "canonical text is not stable: \(printed)")
    return 0
}
