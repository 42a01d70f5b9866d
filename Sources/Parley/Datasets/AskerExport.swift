/// Training data for an asker (Parrot-Ask, Socratic learn to write the user's turns).
public enum AskerExport {
    public static let defaultSystem = """
        You are a curious human talking with an AI assistant. Write the human's next message: \
        a question or follow-up in a real user's voice.
        """
    public static let defaultOpening = "Start the conversation."

    /// The dialogue with roles swapped, so an assistant-only SFT trainer learns the user:
    /// system, an opening request, then each user turn as `gpt` and each reply as `human`;
    /// it ends on a user turn (a trailing reply teaches nothing and is dropped).
    public static func swapped(_ messages: [Message], system: String = defaultSystem, opening: String = defaultOpening)
        -> [Message]
    {
        var out = [Message(.system, system), Message(.user, opening)]
        for m in messages where m.speaker != .system {
            out.append(Message(m.speaker == .user ? .assistant : .user, m.content))
        }
        while out.last?.speaker == .user, out.count > 2 { out.removeLast() }
        return out.count > 2 ? out : []
    }

    /// `{"id", "messages": [{"role", "content", "training"}]}`: the dialogue in its own order,
    /// `training` true on the user turns (the loss mask of a user-simulator trainer).
    public static func maskedRow(id: String?, messages: [Message]) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        if let id { w.field("id", id) }
        w.key("messages")
        w.beginArray()
        for m in messages {
            w.openMessage(m.speaker, m.content)
            w.key("training")
            w.bool(m.speaker == .user)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.line()
    }
}
