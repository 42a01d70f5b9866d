import FoundationEssentials

/// Corpus figures that need a model, over a deterministic sample of dialogues (a model call
/// per message does not scale to a whole corpus): exact token counts, embedding-based topic
/// diversity (of dialogues, and of questions as PlatoLM's code computes it) and topic shifts
/// (PlatoLM, UltraChat), and a judge's view of context dependence and human-likeness (Parrot).
/// Failed requests and unparseable judgments are counted, never turned into figures.
public struct ModelMeasures: Sendable {
    public var tokenizer: (any TokenCounter)?
    public var embeddings: EmbeddingsClient?
    public var judge: Judge?
    /// Consecutive user turns whose embeddings' cosine is below this are a topic shift.
    public var shiftSimilarity = 0.5
    /// Also ask the judge whether each follow-up starts a new topic (one more request per turn).
    public var judgeTopicShifts = false

    public init(tokenizer: (any TokenCounter)? = nil, embeddings: EmbeddingsClient? = nil, judge: Judge? = nil) {
        self.tokenizer = tokenizer
        self.embeddings = embeddings
        self.judge = judge
    }

    public var isEmpty: Bool { tokenizer == nil && embeddings == nil && judge == nil }

    public struct Tally: Sendable, Equatable {
        public var yes = 0, judged = 0, unparsed = 0
    }

    public struct Figures: Sendable {
        /// Which measures ran: "tokens", "embeddings", "judge", "topic_judge".
        public var measured: Set<String> = []
        public var dialogues = 0
        public var userTokens = Histogram(), assistantTokens = Histogram(), dialogueTokens = Histogram()
        /// Mean pairwise cosine similarity of the dialogues' embeddings (lower: more diverse topics).
        public var topicSimilarity: Double?
        /// PlatoLM's: the mean of the whole cosine-similarity matrix (diagonal included) of the
        /// sampled questions' embeddings, and how many questions it covers.
        public var questionSimilarity: Double?
        public var questions = 0
        public var embeddingShifts = 0
        /// Later user turns (the denominator of shifts and judged context dependence).
        public var followUps = 0
        /// Judged "needs the history to be understood", of the later user turns.
        public var contextDependent = Tally()
        /// Judged "written by a human", of all user turns.
        public var humanLike = Tally()
        /// Judged "starts a new topic", of the later user turns (with `judgeTopicShifts`).
        public var topicShifts = Tally()
        /// Requests that failed after their retries, by measure.
        public var failures: [String: Int] = [:]
        public var firstFailure: String?
    }

    /// Measures `dialogues` (their system messages are left out) and, with embeddings, `questions`.
    /// The judge asks only about the user turns a model wrote, not those a seed gave
    /// (`DatasetRow.seedMessages`).
    public func measure(_ dialogues: [DatasetRow], questions: [String] = []) async -> Figures {
        var figures = Figures()
        figures.dialogues = dialogues.count
        if tokenizer != nil { figures.measured.insert("tokens") }
        if embeddings != nil { figures.measured.insert("embeddings") }
        if judge != nil { figures.measured.insert("judge") }
        if judge != nil && judgeTopicShifts { figures.measured.insert("topic_judge") }
        var vectors: [[Double]] = []
        await withTaskGroup(of: (Figures, [Double]?).self) { group in
            var next = 0
            func add() {
                guard next < dialogues.count else { return }
                let row = dialogues[next]
                let d = row.messages.filter { $0.speaker != .system }
                let seeds = row.messages.prefix(row.seedMessages).filter { $0.speaker != .system }.count
                next += 1
                group.addTask { await self.one(d, seeds: seeds) }
            }
            for _ in 0..<16 { add() }
            while let (part, vector) = await group.next() {
                figures.merge(part)
                if let vector { vectors.append(vector) }
                add()
            }
        }
        if embeddings != nil && vectors.count >= 2 {
            var sum = 0.0
            var pairs = 0
            for i in 0..<vectors.count {
                for j in (i + 1)..<vectors.count {
                    sum += Self.cosine(vectors[i], vectors[j])
                    pairs += 1
                }
            }
            figures.topicSimilarity = sum / Double(pairs)
        }
        if let embeddings, !questions.isEmpty {
            do {
                var vectors: [[Double]] = []
                for start in stride(from: 0, to: questions.count, by: 64) {
                    vectors += try await embeddings.embed(Array(questions[start..<min(start + 64, questions.count)]))
                }
                figures.questionSimilarity = Self.meanSimilarityMatrix(vectors)
                figures.questions = questions.count
            } catch {
                figures.failures["embeddings", default: 0] += 1
                if figures.firstFailure == nil { figures.firstFailure = "embeddings: \(error)" }
            }
        }
        return figures
    }

    /// The mean of every entry of the cosine-similarity matrix, the diagonal included (as PlatoLM's
    /// code averages sklearn's `cosine_similarity`).
    static func meanSimilarityMatrix(_ vectors: [[Double]]) -> Double {
        var sum = 0.0
        for i in vectors.indices {
            sum += cosine(vectors[i], vectors[i])
            for j in (i + 1)..<vectors.count { sum += 2 * cosine(vectors[i], vectors[j]) }
        }
        return sum / Double(vectors.count * vectors.count)
    }

    /// One dialogue's figures, and its embedding (of its user turns, for topic diversity).
    /// - Parameter seeds: how many of its first messages a seed gave.
    private func one(_ d: [Message], seeds: Int) async -> (Figures, [Double]?) {
        var f = Figures()
        let users = d.filter { $0.speaker == .user }
        f.followUps = max(users.count - 1, 0)
        func failed(_ measure: String, _ error: Error) {
            f.failures[measure, default: 0] += 1
            if f.firstFailure == nil { f.firstFailure = "\(measure): \(error)" }
        }
        if let tokenizer {
            do {
                var total = 0
                for m in d {
                    let n = try await tokenizer.count(m.content)
                    if m.speaker == .user { f.userTokens.add(n) } else { f.assistantTokens.add(n) }
                    total += n
                }
                f.dialogueTokens.add(total)
            } catch { failed("tokens", error) }
        }
        var vector: [Double]?
        if let embeddings, !users.isEmpty {
            do {
                let v = try await embeddings.embed(
                    users.map(\.content) + [users.map(\.content).joined(separator: "\n")])
                vector = v.last
                for i in 1..<users.count where Self.cosine(v[i - 1], v[i]) < shiftSimilarity { f.embeddingShifts += 1 }
            } catch { failed("embeddings", error) }
        }
        if let judge {
            let firstUser = d.firstIndex { $0.speaker == .user } ?? d.count
            for (i, m) in d.enumerated() where m.speaker == .user && i >= seeds {
                do {
                    if i > firstUser {
                        f.contextDependent.add(try await judge.needsHistory(m.content, after: Array(d[..<i])))
                        if judgeTopicShifts {
                            f.topicShifts.add(try await judge.shiftsTopic(m.content, after: Array(d[..<i])))
                        }
                    }
                    f.humanLike.add(try await judge.writtenByHuman(m.content))
                } catch { failed("judge", error) }
            }
        }
        return (f, vector)
    }

    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        var dot = 0.0
        var na = 0.0
        var nb = 0.0
        for i in 0..<min(a.count, b.count) {
            dot += a[i] * b[i]
            na += a[i] * a[i]
            nb += b[i] * b[i]
        }
        return na > 0 && nb > 0 ? dot / (na.squareRoot() * nb.squareRoot()) : 0
    }
}

extension ModelMeasures.Tally {
    /// Adds one judgment: true, false, or nil when the judge's answer could not be read.
    mutating func add(_ answer: Bool?) {
        guard let answer else {
            unparsed += 1
            return
        }
        judged += 1
        if answer { yes += 1 }
    }
    mutating func merge(_ o: Self) {
        yes += o.yes
        judged += o.judged
        unparsed += o.unparsed
    }
    public var share: Double? { judged == 0 ? nil : Double(yes) / Double(judged) }
}

extension ModelMeasures.Figures {
    mutating func merge(_ o: Self) {
        userTokens.merge(o.userTokens)
        assistantTokens.merge(o.assistantTokens)
        dialogueTokens.merge(o.dialogueTokens)
        embeddingShifts += o.embeddingShifts
        followUps += o.followUps
        contextDependent.merge(o.contextDependent)
        humanLike.merge(o.humanLike)
        topicShifts.merge(o.topicShifts)
        for (k, n) in o.failures { failures[k, default: 0] += n }
        if firstFailure == nil { firstFailure = o.firstFailure }
    }
}

/// An OpenAI-compatible `/embeddings` endpoint (llama.cpp's server with `--embeddings`, vLLM, OpenAI).
public struct EmbeddingsClient: Sendable {
    public var url: String
    public var model: String
    public var apiKey: String?
    public var timeout: Double = 120

    /// - Parameter baseURL: e.g. `http://127.0.0.1:8081/v1`.
    public init(baseURL: String, model: String, apiKey: String? = nil) {
        url = (baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL) + "/embeddings"
        self.model = model
        self.apiKey = apiKey
    }

    /// One vector per text, in order; transient failures are retried.
    public func embed(_ texts: [String]) async throws -> [[Double]] {
        var w = JSONWriter()
        w.beginObject()
        w.field("model", model)
        w.key("input")
        w.beginArray()
        for t in texts { w.string(t) }
        w.endArray()
        w.endObject()
        let policy = RetryPolicy(maxRetries: 3, baseSeconds: 0.25, maxSeconds: 4)
        var attempt = 1
        while true {
            do {
                let (status, headers, body) = try await HTTP.postJSON(
                    url, body: w.text, apiKey: apiKey, timeout: timeout)
                try HTTP.requireSuccess(status, headers: headers, body: body, url: url, apiKey: apiKey)
                guard let reply = try? JSONDecoder().decode(Reply.self, from: body), reply.data.count == texts.count
                else {
                    throw BackendError("malformed embeddings response from \(url)", retryable: false)
                }
                return reply.data.sorted { ($0.index ?? 0) < ($1.index ?? 0) }.map(\.embedding)
            } catch let e as BackendError where e.retryable && attempt <= policy.maxRetries {
                try await Task.sleep(
                    nanoseconds: UInt64(policy.delay(afterAttempt: attempt, retryAfter: e.retryAfter) * 1e9))
                attempt += 1
            }
        }
    }

    private struct Reply: Decodable {
        struct Item: Decodable {
            var embedding: [Double]
            var index: Int?
        }
        var data: [Item]
    }
}
