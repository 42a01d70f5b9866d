/// How one role sees the dialogue: which messages, under which speaker names, and
/// which speaker the model writes next. The assistant sees the dialogue as it is;
/// a user simulator sees it in one of the `AskerMode` shapes.
public struct View: Sendable, Equatable {
    public enum Framing: Sendable, Equatable {
        /// The messages go to the model as they are (chat) or through the template (completion).
        case direct
        /// The messages are rendered as a transcript inside one user message, with an instruction
        /// (the prompted simulator, in the role's `Transcript`); the model's reply is the user's turn.
        case transcript(instruction: String)
    }

    public var system: String?
    /// Messages that always lead the prompt, before the history (the swapped mode's opening request).
    public var lead: [Message] = []
    /// The messages as the model sees them, one per dialogue message (same order).
    public var history: [Message]
    /// The speaker the model writes, in the view's terms.
    public var next: Speaker
    public var framing: Framing

    /// The view of `role` on `messages`: the role's system prompt, the seed's topic and
    /// the dialogue's persona and style where they apply.
    public static func of(
        _ messages: [Message], for role: RoleConfig, writing speaker: Speaker, topic: String?,
        persona: String? = nil, style: String? = nil
    ) -> View {
        if speaker == .assistant {
            return View(system: role.systemPrompt, history: messages, next: .assistant, framing: .direct)
        }
        var character = ""
        if let persona { character = role.personaPrompt.replacing("{persona}", with: persona) }
        if let style {
            character +=
                (character.isEmpty ? "" : " ") + role.stylePrompt.replacing("{style}", with: style)
        }
        func opening() -> String {
            role.openingInstruction.replacing("{topic}", with: topic ?? "anything you are curious about")
        }
        switch role.mode {
        case .trained:
            var system = View.joined(role.systemPrompt ?? "", character)
            if let topic, messages.isEmpty {
                system = View.joined(system, role.topicHint.replacing("{topic}", with: topic))
            }
            return View(system: system.isEmpty ? nil : system, history: messages, next: .user, framing: .direct)
        case .swapped:
            let swapped = messages.map { m -> Message in
                var m = m
                m.speaker = m.speaker == .user ? .assistant : (m.speaker == .assistant ? .user : m.speaker)
                return m
            }
            let system = View.joined(role.systemPrompt ?? "", character)
            return View(
                system: system.isEmpty ? nil : system, lead: messages.isEmpty ? [Message(.user, opening())] : [],
                history: swapped, next: .assistant, framing: .direct)
        case .prompted:
            let instruction = View.joined(messages.isEmpty ? opening() : role.instruction, character)
            return View(
                system: role.systemPrompt, history: messages, next: .assistant,
                framing: .transcript(instruction: instruction))
        }
    }

    /// Two prompt parts, one space apart when both are there.
    static func joined(_ a: String, _ b: String) -> String { a.isEmpty ? b : b.isEmpty ? a : a + " " + b }

    /// The line of one message in the standard transcript (`User: …` / `Assistant: …`).
    static func transcriptLine(_ m: Message) -> String { Transcript().line(m) }
}
