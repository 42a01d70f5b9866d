import FoundationEssentials

/// Structured output: a JSON schema sent with a request, so that a server which supports it
/// (vLLM, llama.cpp, OpenAI) answers JSON that parses. A server without it answers text; callers
/// read the JSON first, then the text, and record which one they read.
public enum StructuredOutput {
    /// An object schema: the properties in `properties`, each required (in this order), no others.
    public static func object(_ properties: [(String, JSONValue)]) -> JSONValue {
        [
            "type": "object",
            "properties": .object(Dictionary(properties) { first, _ in first }),
            "required": .array(properties.map { .string($0.0) }),
            "additionalProperties": false,
        ]
    }

    /// The request fields that ask for `schema`: OpenAI's `response_format` on chat endpoints,
    /// llama.cpp's `json_schema` on completion endpoints.
    public static func params(_ schema: JSONValue, chat: Bool) -> [String: JSONValue] {
        chat
            ? ["response_format": ["type": "json_schema", "json_schema": ["name": "verdict", "schema": schema]]]
            : ["json_schema": schema]
    }

    /// The field `key` of a reply that is one JSON object (surrounding whitespace allowed), or nil.
    public static func field(_ key: String, of text: String) -> JSONValue? {
        guard case .object(let o)? = try? JSONValue.parse(text.trimmingWhitespace())
        else { return nil }
        return o[key]
    }
}

extension Role {
    /// The role asking for replies under `schema` (its own `params` kept, the schema's fields added).
    func asking(for schema: JSONValue) -> Role {
        var config = self.config
        config.params.merge(StructuredOutput.params(schema, chat: config.endpoint == .chat)) { _, new in new }
        return with(config: config)
    }
}
