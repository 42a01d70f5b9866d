@_spi(Fuzzing) import Parley

/// libFuzzer over Fuzzing.seeds (see its promise there).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    if let broken = Fuzzing.seeds(Array(UnsafeBufferPointer(start: data, count: size))) { fatalError(broken) }
    return 0
}
