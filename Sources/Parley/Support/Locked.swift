#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A value behind a lock, with `Synchronization.Mutex`'s interface, over a `pthread_mutex_t`.
/// On Linux `Mutex` is a bare futex that ThreadSanitizer cannot see: every access it guards reads
/// as a data race, so a TSan run of the tests would say nothing useful. This lock is one TSan
/// understands, and costs the same when uncontended.
package final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Behind a pointer, not a stored `var`: the lock is what keeps accesses apart, and a class's `var` passed
    /// `inout` was checked for exclusivity at run time on each lock (~60 instructions, 7 times a request).
    private let value: UnsafeMutablePointer<Value>

    package init(_ value: Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        #if canImport(Glibc)
            // Adaptive: a contended lock spins a little before it sleeps. Sections here are short
            // (a journal line's write(2) the longest), and a futex sleep and wake-up cost more.
            var attributes = pthread_mutexattr_t()
            pthread_mutexattr_init(&attributes)
            pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
            pthread_mutex_init(mutex, &attributes)
            pthread_mutexattr_destroy(&attributes)
        #else
            pthread_mutex_init(mutex, nil)
        #endif
        self.value = .allocate(capacity: 1)
        self.value.initialize(to: value)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` with the value, holding the lock (not reentrant: do not lock again inside).
    package func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
}
