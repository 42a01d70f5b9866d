import FoundationEssentials

/// Builds the request text of one role from a view: windows the history to fit the
/// role's context, renders it for the role's endpoint, and says where to stop.
public struct PromptBuilder: Sendable {
    public var role: RoleConfig
    public var template: Template
    public var counter: any TokenCounter
    /// Tokens a chat endpoint adds per message; nil: ask the token counter's server, else 8.
    public var chatOverhead: Int?
    let fixedCounts: FixedTextCounts
    // Per prompt shape (which speaker is written, direct or transcript): constant for a role.
    private let overheads = CountMemo(slots: 4)
    private let fixedCosts = CountMemo(slots: 4)
    private let chatOverheadMemo = CountMemo(slots: 1)
    /// The stop strings of each shape (`shape(_:)`), made once: every request reads them.
    private let stopLists: [[String]]

    /// The chat framing per message: configured, else from the server, else 8.
    nonisolated(nonsending) func chatMessageOverhead() async throws -> Int {
        if let chatOverhead { return chatOverhead }
        return try await chatOverheadMemo.value(0) { try await counter.chatMessageOverhead() ?? 8 }
    }

    public init(role: RoleConfig, template: Template, counter: any TokenCounter, chatOverhead: Int?) {
        self.role = role
        self.template = template
        self.counter = counter
        self.chatOverhead = chatOverhead
        self.fixedCounts = FixedTextCounts()
        stopLists = (0..<4).map { shape in
            Self.stops(role: role, template: template, next: shape % 2 == 0 ? .user : .assistant, direct: shape < 2)
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// `promptTokens`: the prompt as counted (what budgets and rate limits reserve).
        case ready(PromptInput, stops: [String], keptMessages: Int, promptTokens: Int)
        /// Even the newest exchange does not fit: `needed` tokens against a `budget`.
        case exhausted(needed: Int, budget: Int)
    }

    /// Tokens left for the prompt once generation and the margin are reserved.
    public var budget: Int { role.maxContext - role.maxTokens - role.marginTokens }

    /// - Parameters:
    ///   - contentCounts: token counts of `view.history[i].content` (cached by the caller).
    ///   - exchangeStarts: where exchanges start in the dialogue (a user message).
    @inline(__always)
    nonisolated(nonsending) public func build(_ view: View, contentCounts: [Int], exchangeStarts: [Bool]) async throws
        -> Outcome
    {
        let fixed = try await fixedCost(view)
        let userOverhead = try await messageOverhead(.user, framing: view.framing)
        let assistantOverhead = try await messageOverhead(.assistant, framing: view.framing)
        func cost(_ i: Int) -> Int {
            contentCounts[i] + (view.history[i].speaker == .user ? userOverhead : assistantOverhead) + 1
        }
        // The whole history fits (the usual case): the array itself, and no window to choose (the costs' array and
        // the window's walk were ~870 instructions of a scripted request, benchmarks/callgrind).
        var whole = fixed
        for i in view.history.indices { whole += cost(i) }
        if whole <= budget {
            return .ready(
                render(view, view.history), stops: stops(view), keptMessages: view.history.count, promptTokens: whole)
        }
        if role.onFull == .end { return .exhausted(needed: whole, budget: budget) }
        let costs = view.history.indices.map(cost)
        let window = ContextWindow(budget: budget, keepFirstExchange: role.keepFirstExchange)
        guard let kept = window.select(fixed: fixed, costs: costs, exchangeStarts: exchangeStarts) else {
            let newest = exchangeStarts.lastIndex(of: true) ?? 0
            return .exhausted(needed: fixed + costs[min(newest, costs.count)...].reduce(0, +), budget: budget)
        }
        let messages =
            kept.from == kept.pinned ? view.history : Array(view.history[..<kept.pinned] + view.history[kept.from...])
        let stops = stops(view)
        let tokens = fixed + costs[..<kept.pinned].reduce(0, +) + costs[kept.from...].reduce(0, +)
        return .ready(render(view, messages), stops: stops, keptMessages: messages.count, promptTokens: tokens)
    }

    func render(_ view: View, _ messages: [Message]) -> PromptInput {
        switch (view.framing, role.endpoint) {
        case (.direct, .chat):
            var chat: [ChatMessage] = []
            chat.reserveCapacity(1 + view.lead.count + messages.count)
            if let system = view.system { chat.append(ChatMessage(.system, system)) }
            for m in view.lead { chat.append(ChatMessage(m.speaker, m.content)) }
            for m in messages { chat.append(ChatMessage(m.speaker, m.content)) }
            return .chat(chat)
        case (.direct, .completion):
            let all = view.lead.isEmpty ? messages : view.lead + messages
            return .text(template.render(system: view.system, messages: all, next: view.next))
        case (.transcript(let instruction), _):
            let body = role.transcript.body(messages, instruction: instruction)
            if role.endpoint == .completion {
                // Continuing the user's line, the transcript is the prompt itself.
                if role.transcript.instruction == .before { return .text(View.joined(view.system ?? "", body)) }
                return .text(template.render(system: view.system, messages: [Message(.user, body)], next: .assistant))
            }
            // One array, sized first: joining a system array and a user array made three (~340 instructions).
            var chat: [ChatMessage] = []
            chat.reserveCapacity(2)
            if let system = view.system { chat.append(ChatMessage(.system, system)) }
            chat.append(ChatMessage(.user, body))
            return .chat(chat)
        }
    }

    /// Where the view's prompt stops.
    func stops(_ view: View) -> [String] { stopLists[Self.shape(view)] }

    /// Where a prompt of the role stops: its own stops, its template's for the speaker written, its transcript's.
    static func stops(role: RoleConfig, template: Template, next: Speaker, direct: Bool) -> [String] {
        var stops = role.stop
        func add(_ s: [String]) { for x in s where !stops.contains(x) { stops.append(x) } }
        // A transcript that ends in the user's label is the whole prompt: no template around it.
        let templated = direct || role.transcript.instruction == .after
        if role.endpoint == .completion && templated { add(template.stops(generating: next)) }
        if !direct { add(role.transcript.stops) }
        return stops
    }

    static func shape(_ view: View) -> Int { (view.next == .user ? 0 : 1) + (view.framing == .direct ? 0 : 2) }

    /// What the prompt costs with no history message; remembered for the role's usual
    /// view (its own system prompt and instruction), computed for the rest (topics, openings).
    @inline(__always)
    nonisolated(nonsending) func fixedCost(_ view: View) async throws -> Int {
        let usual =
            view.lead.isEmpty && view.system == role.systemPrompt
            && (view.framing == .direct || view.framing == .transcript(instruction: role.instruction))
        guard usual else { return try await computeFixedCost(view) }
        return try await fixedCosts.value(Self.shape(view)) { try await computeFixedCost(view) }
    }

    nonisolated(nonsending) private func computeFixedCost(_ view: View) async throws -> Int {
        switch (view.framing, role.endpoint) {
        case (.direct, .completion), (.transcript, .completion):
            let empty = render(view, [])
            guard case .text(let t) = empty else { return 0 }
            return try await fixedCounts.count(t, with: counter) + role.marginTokens
        case (.direct, .chat), (.transcript, .chat):
            guard case .chat(let messages) = render(view, []) else { return 0 }
            let overhead = try await chatMessageOverhead()
            var total = overhead  // the generation prompt
            for m in messages { total += try await fixedCounts.count(m.content, with: counter) + overhead }
            return total
        }
    }

    /// What a message adds besides its content: its template part, transcript label or chat framing.
    @inline(__always)
    nonisolated(nonsending) func messageOverhead(_ speaker: Speaker, framing: View.Framing) async throws -> Int {
        if case .direct = framing, role.endpoint == .chat { return try await chatMessageOverhead() }
        let slot = (speaker == .user ? 0 : 1) + (framing == .direct ? 0 : 2)  // per message speaker
        return try await overheads.value(slot) {
            switch framing {
            case .transcript: try await counter.count(role.transcript.line(Message(speaker, "")))
            case .direct: try await counter.count(template.part(speaker).prefix + template.part(speaker).suffix)
            }
        }
    }
}
