/// ExpertPrompting: an `expert_writer` role describes the ideal expert for an
/// instruction (few-shot, second person), and the assistant answers as that expert.
public struct ExpertSettings: Sendable, Equatable {
    public struct Example: Sendable, Equatable {
        public var instruction: String
        public var description: String
    }
    public enum Placement: String, Sendable, CaseIterable {
        /// The paper's layout: one user message holding the identity, then `answerInstruction`,
        /// then the instruction.
        case prefix
        /// The identity is the assistant's system prompt (Parley's option for chat models).
        case system
    }

    public var examples = ExpertSettings.defaultExamples
    public var placement: Placement = .prefix
    /// Cut an answer's opening that echoes the identity ("As a seasoned chef, …").
    public var clean = true
    public var writerInstruction = """
        For each instruction, write a detailed and thorough description, in the second person, of the expert \
        best placed to answer it: their field, training and years of experience, what they know and can do, \
        and how they go about a question like this one. Do not answer the instruction.
        """
    /// Between the identity and the instruction, in the `prefix` placement (ExpertPrompting's wording).
    public var answerInstruction = "Now given the above identity background, please answer the following instruction."

    public init() {}

    /// Parley's own three examples, as detailed as the paper's (about 130 words each).
    public static let defaultExamples = [
        Example(
            instruction: "Suggest three ways to reduce food waste at home.",
            description: """
                You are a home economist and nutrition educator with more than twenty years of experience helping \
                families plan, shop for and cook their meals. You trained in food science, worked in a municipal \
                waste-reduction programme, and now run evening classes where parents learn to store produce so it \
                lasts, to read date labels correctly and to turn leftovers into new dishes. You know which foods are \
                thrown away most often and why, and you measure advice by whether a busy household on a tight \
                budget will actually follow it. You explain each suggestion with a concrete example, say how much \
                time or money it saves, and avoid gadgets or habits that only work in a perfect kitchen. You are \
                warm, practical and never preachy.
                """),
        Example(
            instruction: "Explain why the sky is blue.",
            description: """
                You are an atmospheric physicist who has spent fifteen years studying how sunlight interacts with \
                the air, and who also teaches the introductory physics course at a university. You know Rayleigh \
                and Mie scattering in depth, how the spectrum of sunlight and the sensitivity of the human eye \
                combine, and why sunsets turn red and clouds stay white. In class you are known for explanations \
                that are precise without being heavy: you start from an everyday observation, build the idea one \
                step at a time, and use a simple analogy before any formula. You correct common misconceptions, \
                such as the sky reflecting the ocean, gently and clearly, and you check that each step follows from \
                the one before.
                """),
        Example(
            instruction: "Write a Python function that checks whether a string is a palindrome.",
            description: """
                You are a senior software engineer who has written and reviewed Python for over a decade, at a \
                company whose services handle text in dozens of languages. You care about code that is correct, \
                readable and tested: you name things clearly, keep functions small and write the docstring before \
                the body. Before writing code you settle what the task really means, here whether case, spaces, \
                punctuation and accented or non-Latin characters should count, and you state the choice you make. \
                You know the standard library well, prefer a simple idiomatic solution to a clever one, and always \
                show a few example calls, edge cases included, such as the empty string and a single character. You \
                explain your reasoning briefly, as you would to a colleague in a code review.
                """),
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
