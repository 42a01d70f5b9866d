import Synchronization

/// A deterministic backend for tests, benchmarks and reproducible runs. Its text is a
/// function of (run seed, dialogue id, message index, role) only, so the same config and
/// seeds give the same dialogues at any concurrency. Latency and failures are injectable.
public final class ScriptedBackend: Backend {
    public let config: ScriptedConfig
    public let runSeed: UInt64
    /// The marker the roles that play the user write at `end_at_turn`.
    public let endMarker: String?
    /// The roles that play the user (`RoleDeclaration.playsUser`).
    let userRoles: Set<String>
    /// The roles that judge (`RoleDeclaration.judges`): their text ends with a verdict.
    let judgeRoles: Set<String>
    private let calls = Atomic<Int>(0)
    private let counter = EstimatingTokenCounter(charsPerToken: 4)

    public init(
        config: ScriptedConfig, runSeed: UInt64, endMarker: String? = nil, userRoles: Set<String> = ["asker"],
        judgeRoles: Set<String> = ["judge"]
    ) {
        self.config = config
        self.runSeed = runSeed
        self.endMarker = endMarker
        self.userRoles = userRoles
        self.judgeRoles = judgeRoles
    }

    public var tokenCounter: any TokenCounter { counter }

    nonisolated(nonsending) public func generate(_ r: GenerationRequest) async throws -> GenerationResult {
        var h = StableHash()
        h.combine(runSeed)
        h.combine(r.dialogueID)
        h.combine(r.messageIndex)
        h.combine(r.role)
        let key = h.value
        let call = calls.add(1, ordering: .relaxed).newValue

        if config.latencyMs > 0 || config.jitterMs > 0 {
            var rng = SplitMix64(seed: key ^ UInt64(r.attempt))
            let ms = max(
                0,
                config.latencyMs
                    + (config.jitterMs > 0 ? Double.random(in: -config.jitterMs...config.jitterMs, using: &rng) : 0))
            try await LatencyTimer.shared.sleep(seconds: ms / 1000)
        }
        if config.failEvery > 0 && call % config.failEvery == 0 {
            throw BackendError(
                "scripted failure (call \(call) of every \(config.failEvery))", retryable: true,
                kind: "scripted failure")
        }
        if config.failRate > 0 {
            var rng = SplitMix64(seed: key &+ UInt64(r.attempt) &* 0x9E37_79B9)
            if Double.random(in: 0..<1, using: &rng) < config.failRate {
                throw BackendError(
                    "scripted failure (rate \(config.failRate), attempt \(r.attempt))", retryable: true,
                    kind: "scripted failure")
            }
        }

        var rng = SplitMix64(seed: key)
        let n = Int.random(in: config.words, using: &rng)
        var text = Self.words(n, role: r.role, index: r.messageIndex, &rng)
        let exchange = r.messageIndex / 2 + 1
        if let endMarker, config.endAtTurn > 0, exchange >= config.endAtTurn, userRoles.contains(r.role) {
            text += " " + endMarker
        }
        if judgeRoles.contains(r.role) { text += Self.verdict(for: r.prompt, rng.next()) }
        // About 4 bytes a token; `utf8.count` is O(1) on native strings.
        let promptTokens: Int
        switch r.prompt {
        case .text(let t): promptTokens = t.utf8.count / 4
        case .chat(let m): promptTokens = m.reduce(0) { $0 + $1.content.utf8.count / 4 }
        }
        return GenerationResult(
            text: text, finishReason: "stop", promptTokens: promptTokens,
            completionTokens: n + 2, model: "scripted")
    }

    /// A judge's verdict in the form Parley's judge prompts ask for: a preference when the
    /// prompt offers [[A]]/[[B]]/[[C]], else a rating.
    static func verdict(for prompt: PromptInput, _ random: UInt64) -> String {
        let text: String
        switch prompt {
        case .text(let t): text = t
        case .chat(let m): text = m.last?.content ?? ""
        }
        if text.contains("[[A]]") { return " [[" + ["A", "B", "C"][Int(random % 3)] + "]]" }
        return " Rating: [[\(1 + random % 10)]]"
    }

    /// `role index:`, then `n` words of the vocabulary, each after a space, written into the string's buffer
    /// (a `+=` a word, and one a space, were a tenth of a zero-latency turn; the prefix by interpolation,
    /// ~570 instructions a request, benchmarks/callgrind).
    static func words(_ n: Int, role: String, index: Int, _ rng: inout SplitMix64) -> String {
        let spaced = spacedVocabulary
        // Room for the role, a space, up to 20 digits and a colon, then the words.
        return String(unsafeUninitializedCapacity: role.utf8.count + 22 + n * longestSpacedWord) { buffer in
            var count = buffer.initialize(fromContentsOf: role.utf8)
            buffer[count] = UInt8(ascii: " ")
            count += 1
            count = buffer.initializeDecimal(UInt(max(index, 0)), at: count)
            buffer[count] = UInt8(ascii: ":")
            count += 1
            for _ in 0..<n {
                let word = spaced[Int(rng.next() % UInt64(spaced.count))]
                count = buffer[count...].initialize(fromContentsOf: word)
            }
            return count
        }
    }

    private static let spacedVocabulary = vocabulary.map { Array(" \($0)".utf8) }
    private static let longestSpacedWord = spacedVocabulary.map(\.count).max() ?? 0

    static let vocabulary = """
        the a model data turn ask answer why how what context window token server user assistant \
        question reply example system prompt graph node edge score judge pair rank plan step write \
        read check test build fast slow small large first last next other same new old good best \
        simple clear real long short time place idea topic point case reason result value part
        """.split(separator: " ").map(String.init)
}
