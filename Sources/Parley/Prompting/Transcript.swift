import FoundationEssentials

/// How the prompted framing writes the history into one message: speaker labels, what ends
/// each message, and where the instruction goes — after the transcript (UltraChat: the model
/// writes the user's next message on request) or before it (Baize: the prompt ends with the
/// user's label and the model continues the user's line).
public struct Transcript: Sendable, Equatable {
    public enum InstructionPlace: String, Sendable, CaseIterable {
        case after, before
    }

    public var user = "User: "
    public var assistant = "Assistant: "
    /// What ends each message.
    public var separator = "\n\n"
    public var instruction = InstructionPlace.after

    public init() {}

    public init(user: String, assistant: String, separator: String, instruction: InstructionPlace) {
        self.user = user
        self.assistant = assistant
        self.separator = separator
        self.instruction = instruction
    }

    /// Baize v2's self-chat: the instruction, then `[|Human|] …` / `[|AI|] …` lines (a space after
    /// each tag, as in its data), ending with the human's tag.
    public static let baize = Transcript(
        user: "[|Human|] ", assistant: "[|AI|] ", separator: "\n", instruction: .before)

    public func label(_ speaker: Speaker) -> String { speaker == .user ? user : assistant }

    public func line(_ m: Message) -> String { label(m.speaker) + m.content + separator }

    /// The whole message: the history's lines and the instruction, in this transcript's order.
    /// Written into one string sized first (`String.assembled`): a string per line, then joined, cost
    /// the asker's requests ~20K instructions each (benchmarks/callgrind).
    public func body(_ messages: [Message], instruction text: String) -> String {
        let end = instruction == .after ? text : Self.trimmed(user)
        return String.assembled { out in
            if instruction == .before {
                out.append(text)
                out.append("\n")
            }
            for i in messages.indices {  // by index: `for m in` copied each message, twice
                out.append(label(messages[i].speaker))
                out.append(messages[i].content)
                out.append(separator)
            }
            out.append(end)
        }
    }

    /// Where the model's reply ends: where it starts a new labelled line (or, continuing the
    /// user's line, the assistant's label anywhere).
    public var stops: [String] {
        var stops = [user, assistant].map(Self.trimmed).filter { !$0.isEmpty }.map { "\n" + $0 }
        if instruction == .before, !Self.trimmed(assistant).isEmpty { stops.append(Self.trimmed(assistant)) }
        return stops
    }

    static func trimmed(_ label: String) -> String { label.trimmingWhitespace() }
}
