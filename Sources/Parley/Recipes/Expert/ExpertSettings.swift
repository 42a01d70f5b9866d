/// ExpertPrompting: an `expert_writer` role describes the ideal expert for an
/// instruction (few-shot, second person), and the assistant answers as that expert.
public struct ExpertSettings: Sendable, Equatable {
    public struct Example: Sendable, Equatable {
        public var instruction: String
        public var description: String
    }
    public enum Placement: String, Sendable, CaseIterable {
        /// The identity is the assistant's system prompt (chat endpoints).
        case system
        /// The identity precedes the instruction in the user's message.
        case prefix
    }

    public var examples = ExpertSettings.defaultExamples
    public var placement: Placement = .system
    /// Cut an answer's opening that echoes the identity ("As a seasoned chef, …").
    public var clean = true
    public var writerInstruction = """
        For each instruction, write a short description, in the second person, of the expert best placed \
        to answer it: their field, experience and what they care about. Do not answer the instruction.
        """

    public init() {}

    public static let defaultExamples = [
        Example(
            instruction: "Suggest three ways to reduce food waste at home.",
            description:
                "You are a home economist with twenty years of experience teaching families to plan meals, store food "
                + "well and cook with leftovers. You give practical, low-cost advice that fits a busy household."
        ),
        Example(
            instruction: "Explain why the sky is blue.",
            description:
                "You are an atmospheric physicist who also teaches introductory courses. You explain light scattering "
                + "precisely but in plain words, with an everyday example."
        ),
        Example(
            instruction: "Write a Python function that checks whether a string is a palindrome.",
            description:
                "You are a senior Python developer who writes clear, tested, idiomatic code and explains edge cases "
                + "such as case, spaces and Unicode."
        ),
        Example(
            instruction: "How should I prepare for a job interview at a startup?",
            description:
                "You are a career coach who has hired for and advised early-stage startups. You know what founders "
                + "look for and give concrete, honest preparation steps."
        ),
    ]
}

/// Cleans answers that echo the expert identity they were given.
public enum ExpertEcho {
    /// The answer without an opening "As a/an … ," clause (and the text removed), or as it was.
    public static func clean(_ answer: String) -> (text: String, removed: String?) {
        let trimmed = answer.drop { $0.isWhitespace }
        let lower = trimmed.lowercased()
        guard lower.hasPrefix("as a ") || lower.hasPrefix("as an ") else { return (answer, nil) }
        guard let comma = trimmed.prefix(160).firstIndex(where: { $0 == "," || $0 == ":" }) else {
            return (answer, nil)
        }
        var rest = trimmed[trimmed.index(after: comma)...].drop { $0.isWhitespace }
        guard let first = rest.first else { return (answer, nil) }
        let removed = String(trimmed[...comma])
        rest = Substring(first.uppercased()) + rest.dropFirst()
        return (String(rest), removed)
    }
}
