/// Writing `Encodable` values, so that a record's `Codable` conformance is its one schema.
///
/// Foundation's `JSONEncoder` on Linux does not keep keys in the order a type encodes them
/// (`{"turn":1,"samples":[…],"score":7}` for a type declaring turn, score, samples), and rows are
/// meant to read in their schema's order and stay byte-stable; so values are encoded into a small
/// ordered tree and written with the writer's own number and string forms.
extension JSONWriter {
    /// Writes `value` as its `encode(to:)` describes it, keys in the order encoded.
    mutating func encode(_ value: some Encodable) throws {
        let root = EncodedNode()
        try value.encode(to: NodeEncoder(node: root, codingPath: []))
        write(root)
    }

    private mutating func write(_ node: EncodedNode) {
        switch node.kind {
        case .object:
            beginObject()
            for (k, v) in node.fields {
                key(k)
                write(v)
            }
            endObject()
        case .array:
            beginArray()
            for e in node.elements { write(e) }
            endArray()
        case .scalar:
            switch node.scalar {
            case .null: null()
            case .bool(let b): bool(b)
            case .int(let n): int(n)
            case .double(let d): double(d)
            case .string(let s): string(s)
            }
        }
    }
}

/// One value being encoded: a scalar, an array or an object whose fields keep their order.
private final class EncodedNode {
    enum Kind { case scalar, array, object }
    enum Scalar {
        case null
        case bool(Bool)
        case int(Int)
        case double(Double)
        case string(String)
    }

    var kind = Kind.scalar
    var scalar = Scalar.null
    var elements: [EncodedNode] = []
    var fields: [(key: String, node: EncodedNode)] = []

    /// The node for `key`, replacing an earlier value of the same key in place (as JSONEncoder does).
    func field(_ key: String) -> EncodedNode {
        kind = .object
        let node = EncodedNode()
        if let i = fields.firstIndex(where: { $0.key == key }) {
            fields[i].node = node
        } else {
            fields.append((key, node))
        }
        return node
    }

    func element() -> EncodedNode {
        kind = .array
        let node = EncodedNode()
        elements.append(node)
        return node
    }

    func set(_ value: Scalar) {
        kind = .scalar
        scalar = value
    }
}

private struct NodeEncoder: Encoder {
    let node: EncodedNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.kind = .object
        return KeyedEncodingContainer(KeyedNodeContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.kind = .array
        return UnkeyedNodeContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleNodeContainer(node: node, codingPath: codingPath)
    }
}

private struct KeyedNodeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodedNode
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws {
        node.field(key.stringValue).set(.null)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try value.encode(to: NodeEncoder(node: node.field(key.stringValue), codingPath: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        NodeEncoder(node: node.field(key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        NodeEncoder(node: node.field(key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        NodeEncoder(node: node.field("super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        NodeEncoder(node: node.field(key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedNodeContainer: UnkeyedEncodingContainer {
    let node: EncodedNode
    let codingPath: [any CodingKey]
    var count: Int { node.elements.count }

    mutating func encodeNil() throws {
        node.element().set(.null)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try value.encode(to: NodeEncoder(node: node.element(), codingPath: codingPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        NodeEncoder(node: node.element(), codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        NodeEncoder(node: node.element(), codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        NodeEncoder(node: node.element(), codingPath: codingPath)
    }
}

private struct SingleNodeContainer: SingleValueEncodingContainer {
    let node: EncodedNode
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.set(.null) }
    mutating func encode(_ value: Bool) throws { node.set(.bool(value)) }
    mutating func encode(_ value: String) throws { node.set(.string(value)) }
    mutating func encode(_ value: Double) throws { node.set(.double(value)) }
    mutating func encode(_ value: Float) throws { node.set(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { node.set(.int(value)) }
    mutating func encode(_ value: Int8) throws { node.set(.int(Int(value))) }
    mutating func encode(_ value: Int16) throws { node.set(.int(Int(value))) }
    mutating func encode(_ value: Int32) throws { node.set(.int(Int(value))) }
    mutating func encode(_ value: Int64) throws { node.set(.int(Int(value))) }
    mutating func encode(_ value: UInt) throws { node.set(Self.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { node.set(.int(Int(value))) }
    mutating func encode(_ value: UInt16) throws { node.set(.int(Int(value))) }
    mutating func encode(_ value: UInt32) throws { node.set(.int(Int(value))) }
    mutating func encode(_ value: UInt64) throws { node.set(Self.unsigned(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try value.encode(to: NodeEncoder(node: node, codingPath: codingPath))
    }

    /// An unsigned value beyond `Int.max` is written as a double, the way JSON numbers are read.
    private static func unsigned(_ value: UInt64) -> EncodedNode.Scalar {
        value <= UInt64(Int.max) ? .int(Int(value)) : .double(Double(value))
    }
}
