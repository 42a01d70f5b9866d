#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Starts a detached thread running `body` (what Foundation's `Thread` does, without full Foundation).
/// - Parameter stackSize: bytes of stack; nil: the system's default.
/// - Returns: false when the system would not start one (`pthread_create` failed): the caller decides,
///   rather than trap a host process.
@discardableResult
package func startThread(stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    if let stackSize { pthread_attr_setstacksize(&attributes, stackSize) }
    let box = Unmanaged.passRetained(Box(body: body))
    var thread = pthread_t()
    let started = pthread_create(
        &thread, &attributes,
        { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box.toOpaque())
    if started != 0 { box.release() }
    return started == 0
}
