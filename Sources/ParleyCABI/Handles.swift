// Opaque handles are ids in a table, never raw pointers, and ids are never reused:
// an unknown or freed handle is found out and reported instead of dereferenced.
import Parley
import Synchronization

final class HandleTable<Object: AnyObject & Sendable>: Sendable {
    /// Sharded by id, so that hundreds of callback threads making and dropping reply
    /// handles at once do not queue on one lock.
    private final class Shard: Sendable {
        let objects = Locked<[OwnKey: Object]>([:])
    }
    private let shards: [Shard] = (0..<32).map { _ in Shard() }
    private let next = Atomic<UInt>(0)
    /// Ids start high and step by 16 so they do not look like small integers or common sentinels.
    private let base: UInt

    init(base: UInt) { self.base = base }

    private func shard(_ id: UInt) -> Shard { shards[Int((id >> 4) % UInt(shards.count))] }

    func add(_ object: Object) -> OpaquePointer {
        let id = base &+ next.add(1, ordering: .relaxed).newValue &* 16
        shard(id).objects.withLock { $0[OwnKey(UInt64(id))] = object }
        return OpaquePointer(bitPattern: id)!  // never nil: base is non-zero
    }

    func get(_ handle: OpaquePointer?, _ what: String) throws(Failure) -> Object {
        guard let handle else { throw Failure(.argument, "\(what) is NULL") }
        let id = UInt(bitPattern: handle)
        guard let object = shard(id).objects.withLock({ $0[OwnKey(UInt64(id))] }) else {
            throw Failure(.handle, "\(what) is not a live handle (freed, or never made)")
        }
        return object
    }

    func remove(_ handle: OpaquePointer?, _ what: String) throws(Failure) -> Object {
        guard let handle else { throw Failure(.argument, "\(what) is NULL") }
        let id = UInt(bitPattern: handle)
        guard let object = shard(id).objects.withLock({ $0.removeValue(forKey: OwnKey(UInt64(id))) }) else {
            throw Failure(.handle, "\(what) is not a live handle (freed, or never made)")
        }
        return object
    }
}

let engines = HandleTable<EngineBox>(base: 0x7E00_0000_0000)
let jobs = HandleTable<JobBox>(base: 0x7A00_0000_0000)
let replies = HandleTable<ReplyBox>(base: 0x7C00_0000_0000)
let batches = HandleTable<BatchBox>(base: 0x7D00_0000_0000)
