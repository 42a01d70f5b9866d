// Opaque handles are ids in a table, never raw pointers, and ids are never reused:
// an unknown or freed handle is found out and reported instead of dereferenced.
import Synchronization

final class HandleTable<Object: AnyObject & Sendable>: Sendable {
    private struct State {
        var next: UInt = 0
        var objects: [UInt: Object] = [:]
    }
    private let state = Mutex(State())
    /// Ids start high and step by 16 so they do not look like small integers or common sentinels.
    private let base: UInt

    init(base: UInt) { self.base = base }

    func add(_ object: Object) -> OpaquePointer {
        let id = state.withLock { s -> UInt in
            s.next += 1
            let id = base &+ s.next &* 16
            s.objects[id] = object
            return id
        }
        return OpaquePointer(bitPattern: id)!  // never nil: base is non-zero
    }

    func get(_ handle: OpaquePointer?, _ what: String) throws(Failure) -> Object {
        guard let handle else { throw Failure(.argument, "\(what) is NULL") }
        let id = UInt(bitPattern: handle)
        guard let object = state.withLock({ $0.objects[id] }) else {
            throw Failure(.handle, "\(what) is not a live handle (freed, or never made)")
        }
        return object
    }

    func remove(_ handle: OpaquePointer?, _ what: String) throws(Failure) -> Object {
        let object = try get(handle, what)
        _ = state.withLock { $0.objects.removeValue(forKey: UInt(bitPattern: handle)) }
        return object
    }
}

let engines = HandleTable<EngineBox>(base: 0x7E00_0000_0000)
let jobs = HandleTable<JobBox>(base: 0x7A00_0000_0000)
let replies = HandleTable<ReplyBox>(base: 0x7C00_0000_0000)
