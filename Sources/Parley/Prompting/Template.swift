import FoundationEssentials

/// Turns messages into one prompt string for completion endpoints (`/v1/completions`).
///
/// A message renders as `prefix + content + suffix` of its speaker's part; the prompt
/// for the next message ends with that speaker's prefix, so the model continues it —
/// without the prefix's trailing spaces: SentencePiece and BPE vocabularies put a word's
/// leading space inside the word's token, so a prompt ending in a lone space leaves the
/// model only unusual tokens (gemma-3-270m then opened all 51 turns it wrote in the demo
/// with a digit, "100%", "10 years ago"; none of 67 without the space). The model writes
/// the space; the turn cleaner trims it.
/// Generation stops at the template's end-of-turn sequences and where the model
/// starts another speaker's message.
public struct Template: Sendable, Equatable {
    public struct Part: Sendable, Equatable {
        public var prefix: String
        public var suffix: String
        /// Sequences that mark the start of this speaker's message; they stop generation of the others.
        public var opens: [String]
        public init(prefix: String, suffix: String, opens: [String]? = nil) {
            self.prefix = prefix
            self.suffix = suffix
            let trimmed = prefix.trimmingWhitespace()
            self.opens = opens ?? (trimmed.isEmpty ? [] : [trimmed])
        }
    }

    public var name: String
    /// Text at the very start of the prompt.
    public var begin: String
    public var system: Part
    public var user: Part
    public var assistant: Part
    /// Families without a system role (Llama-2, Gemma) put the system block inside the first user message.
    public var systemInFirstUser: Bool
    /// End-of-turn sequences that stop every generation.
    public var stop: [String]

    public init(
        name: String, begin: String = "", system: Part, user: Part, assistant: Part,
        systemInFirstUser: Bool = false, stop: [String] = []
    ) {
        self.name = name
        self.begin = begin
        self.system = system
        self.user = user
        self.assistant = assistant
        self.systemInFirstUser = systemInFirstUser
        self.stop = stop
    }

    public func part(_ speaker: Speaker) -> Part {
        switch speaker {
        case .system: system
        case .user: user
        case .assistant: assistant
        }
    }

    /// The prompt asking the model to write `next`'s message after `messages`.
    public func render(system systemPrompt: String?, messages: [Message], next: Speaker) -> String {
        // Written into one string sized first (`String.assembled`): it is remade for every turn of every dialogue.
        // What both passes write is worked out once, before them; the system block is written in its three pieces
        // (joined first, they were two strings made per request).
        let hasSystem = systemPrompt.map { !$0.isEmpty } ?? false
        let firstUser = messages.first.map { $0.speaker == .user } ?? (next == .user)
        let systemInUser = systemInFirstUser && firstUser
        let nextPrefix = Self.withoutTrailingSpaces(part(next).prefix)
        return String.assembled { out in
            var pendingSystem = hasSystem
            func writeSystem() {
                out.append(system.prefix)
                out.append(systemPrompt ?? "")
                out.append(system.suffix)
                pendingSystem = false
            }
            out.append(begin)
            if pendingSystem, !systemInUser { writeSystem() }
            for i in messages.indices {  // by index: `for m in` copied each message, twice
                let speaker = messages[i].speaker
                out.append(part(speaker).prefix)
                if pendingSystem { writeSystem() }
                out.append(messages[i].content)
                out.append(part(speaker).suffix)
            }
            if pendingSystem {
                out.append(part(next).prefix)
                writeSystem()
            } else {
                out.append(nextPrefix)
            }
        }
    }

    /// A slice, not a copy: it ends every completion prompt.
    static func withoutTrailingSpaces(_ prefix: String) -> Substring {
        let bytes = prefix.utf8
        var end = bytes.endIndex
        while end > bytes.startIndex, bytes[bytes.index(before: end)] == UInt8(ascii: " ") {
            end = bytes.index(before: end)
        }
        return prefix[..<end]
    }

    /// Where to stop when the model writes `speaker`'s message.
    public func stops(generating speaker: Speaker) -> [String] {
        var result = stop
        for other in [Speaker.user, .assistant] where other != speaker {
            for s in part(other).opens where !result.contains(s) { result.append(s) }
        }
        return result
    }
}
