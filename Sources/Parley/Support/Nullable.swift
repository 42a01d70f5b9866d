/// An optional field that is written as `null` when nil (Foundation's encoder leaves nil fields
/// out), so every row of a file has the same keys and dataset loaders infer one schema. A
/// missing key reads as nil.
@propertyWrapper
public struct Nullable<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = c.decodeNil() ? nil : try c.decode(Value.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue {
            try c.encode(wrappedValue)
        } else {
            try c.encodeNil()
        }
    }
}

extension KeyedDecodingContainer {
    /// A `Nullable` field whose key is missing is nil, as a plain optional's would be.
    public func decode<V>(_ type: Nullable<V>.Type, forKey key: Key) throws -> Nullable<V> {
        try decodeIfPresent(type, forKey: key) ?? Nullable(wrappedValue: nil)
    }
}
