import FoundationEssentials

/// Judge prompts in the format of FastChat's `llm_judge/data/judge_prompts.jsonl`, so that
/// `parley eval` runs MT-Bench's published protocol (users bring the file; Parley ships none of
/// its text). Each line: `name`, `type`, `system_prompt`, `prompt_template`. Turn 1 uses the
/// single-turn prompts, later turns the multi-turn ones, whose two-turn layout (`### User:` /
/// `### Assistant A:` blocks between start and end markers, references likewise) is extended to
/// the turn being judged.
public struct FastChatPrompts: Sendable, Equatable {
    public struct Prompt: Sendable, Equatable, Decodable {
        public var name: String
        public var systemPrompt: String
        public var promptTemplate: String

        enum CodingKeys: String, CodingKey {
            case name
            case systemPrompt = "system_prompt"
            case promptTemplate = "prompt_template"
        }
    }

    public var prompts: [String: Prompt]

    /// Reads a `judge_prompts.jsonl` file.
    /// - Throws: a message naming the file and line when a line is not such a prompt.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else { throw RunError.io("\(path): cannot read the judge prompts") }
        prompts = [:]
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.allSatisfy(\.isWhitespace) {
            guard let p = try? JSONDecoder().decode(Prompt.self, from: Data(line.utf8)) else {
                throw RunError.io("\(path) line \(i + 1): expected {\"name\", \"system_prompt\", \"prompt_template\"}")
            }
            prompts[p.name] = p
        }
    }

    /// FastChat's choice of prompt for a turn: `single-v1`, `single-math-v1` (with a reference),
    /// `pair-v2`, `pair-math-v1`, with `-multi-turn` after the first turn.
    public static func name(pairwise: Bool, reference: Bool, turn: Int) -> String {
        let base = pairwise ? (reference ? "pair-math-v1" : "pair-v2") : (reference ? "single-math-v1" : "single-v1")
        return turn > 1 ? base + "-multi-turn" : base
    }

    /// The system prompt and the user message for `turn`.
    /// - Parameters:
    ///   - questions: the user's messages up to `turn`.
    ///   - answers: per conversation (one, or A and B), its answers up to `turn`.
    ///   - references: reference answers per turn (may be shorter, or empty).
    public func render(
        _ prompt: Prompt, turn: Int, questions: [String], answers: [[String]], references: [String]
    ) -> (system: String, user: String) {
        var values: [String: String] = [:]
        for k in 1...turn {
            values["question_\(k)"] = questions[k - 1]
            values["ref_answer_\(k)"] = k <= references.count ? references[k - 1] : ""
            if answers.count == 1 { values["answer_\(k)"] = answers[0][k - 1] }
            if answers.count == 2 {
                values["answer_a_\(k)"] = answers[0][k - 1]
                values["answer_b_\(k)"] = answers[1][k - 1]
            }
        }
        values["question"] = questions[turn - 1]
        values["answer"] = answers.count == 1 ? answers[0][turn - 1] : nil
        values["answer_a"] = answers.count == 2 ? answers[0][turn - 1] : nil
        values["answer_b"] = answers.count == 2 ? answers[1][turn - 1] : nil
        let template = turn > 1 ? Self.extend(prompt.promptTemplate, to: turn) : prompt.promptTemplate
        var system = prompt.systemPrompt
        if turn > 2 {
            // The multi-turn instructions name "the second" question: the judged one is another.
            system = system.replacing("second user question", with: Self.ordinal(turn) + " user question")
        }
        return (system, Self.fill(template, values))
    }

    /// A two-turn template extended to `turns` turns: in each stretch from a `{question_1}` block
    /// to the end of the last `…_2}` placeholder before the next `{question_1}`, the turn-1 blocks
    /// repeat for turns 1…n−1 and the turn-2 blocks close it as turn n. Two turns give the template.
    static func extend(_ template: String, to turns: Int) -> String {
        var out = ""
        var rest = Substring(template)
        while let q1 = rest.firstRange(of: "{question_1}"),
            let q2 = rest[q1.upperBound...].firstRange(of: "{question_2}")
        {
            let start1 = blockStart(rest, before: q1.lowerBound)
            let start2 = blockStart(rest, before: q2.lowerBound)
            let next = rest[q2.upperBound...].firstRange(of: "{question_1}")?.lowerBound ?? rest.endIndex
            let end2 = lastTurnTwoPlaceholder(rest[q2.lowerBound..<next])?.upperBound ?? q2.upperBound
            out += rest[..<start1]
            for k in 1..<turns { out += renumber(rest[start1..<start2], from: 1, to: k) }
            out += renumber(rest[start2..<end2], from: 2, to: turns)
            rest = rest[end2...]
        }
        return out + rest
    }

    /// Where the blank-line-separated block holding `index` starts.
    private static func blockStart(_ s: Substring, before index: Substring.Index) -> Substring.Index {
        s[..<index].ranges(of: "\n\n").last?.upperBound ?? s.startIndex
    }

    private static func lastTurnTwoPlaceholder(_ s: Substring) -> Range<Substring.Index>? {
        var found: Range<Substring.Index>?
        var from = s.startIndex
        while let r = s[from...].firstRange(of: "_2}") {
            found = r
            from = r.upperBound
        }
        return found
    }

    /// `{name_from}` placeholders renamed `{name_to}`.
    private static func renumber(_ s: Substring, from: Int, to: Int) -> String {
        String(s.replacing("_\(from)}", with: "_\(to)}"))
    }

    /// `{name}` replaced by its value wherever one is given; other braces are left as they are.
    static func fill(_ template: String, _ values: [String: String]) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}"),
                let value = values[String(rest[rest.index(after: open)..<close])]
            else {
                out.append("{")
                rest = rest[rest.index(after: open)...]
                continue
            }
            out += value
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    static func ordinal(_ n: Int) -> String {
        let words = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
        if n >= 1 && n <= words.count { return words[n - 1] }
        let suffix = (11...13).contains(n % 100) ? "th" : [1: "st", 2: "nd", 3: "rd"][n % 10] ?? "th"
        return "\(n)\(suffix)"
    }
}
