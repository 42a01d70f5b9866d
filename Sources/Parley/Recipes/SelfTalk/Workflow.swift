/// A Self-talk workflow: a directed graph whose nodes are what the agent should say,
/// and whose edges are the client answers that lead from one step to the next.
public struct Workflow: Sendable, Equatable {
    public struct Edge: Sendable, Equatable {
        public var from: String
        public var to: String
        /// The kind of client answer this edge expects ("wants a refund").
        public var answer: String
    }

    public var name: String
    public var start: String
    /// Node id → what the agent says at that step.
    public var nodes: [String: String]
    public var edges: [Edge]

    public func edges(from node: String) -> [Edge] { edges.filter { $0.from == node } }

    /// Nodes on the longest path from `start` (cycles are not followed twice).
    public var longestPath: Int {
        var memo: [String: Int] = [:]
        func longest(_ node: String, _ visiting: Set<String>) -> Int {
            if let m = memo[node] { return m }
            let next = edges(from: node).filter { !visiting.contains($0.to) }
            let best = 1 + (next.map { longest($0.to, visiting.union([node])) }.max() ?? 0)
            memo[node] = best
            return best
        }
        return longest(start, [])
    }

    /// Parses `{"name", "start", "nodes": {id: text}, "edges": [{"from", "to", "answer"}]}` through
    /// the config reader: problems, unknown keys included, are reported with `path`.
    static func parse(_ value: JSONValue, at path: String) throws(ConfigError) -> Workflow {
        let reader = ConfigReader()
        guard let o = reader.object(value, at: path) else { throw ConfigError(issues: reader.issues) }
        let name = o.string("name", nonEmpty: true) ?? "workflow"
        var nodes: [String: String] = [:]
        if let n = o.object("nodes") {
            for id in n.fields.keys.sorted() {
                if let text = n.string(id, nonEmpty: true) { nodes[id] = text }
            }
        } else if !o.has("nodes") {
            reader.report(o.childPath("nodes"), "missing: an object of node id → the agent's text")
        }
        var edges: [Edge] = []
        if case .array(let list)? = o.raw("edges") {
            for (i, item) in list.enumerated() {
                guard let x = reader.object(item, at: o.childPath("edges") + "[\(i)]") else { continue }
                defer { x.finish() }
                guard let from = x.string("from"), let to = x.string("to"), let answer = x.string("answer") else {
                    reader.report(x.path, "expected {from, to, answer}")
                    continue
                }
                for (key, id) in [("from", from), ("to", to)] where nodes[id] == nil {
                    reader.report(x.childPath(key), "no node \"\(id)\"")
                }
                edges.append(Edge(from: from, to: to, answer: answer))
            }
        } else if o.has("edges") {
            reader.report(o.childPath("edges"), "expected an array of {from, to, answer}")
        }
        let start = o.string("start") ?? ""
        if nodes[start] == nil { reader.report(o.childPath("start"), "expected the id of the first node") }
        o.finish()
        guard reader.issues.isEmpty else { throw ConfigError(issues: reader.issues) }
        return Workflow(name: name, start: start, nodes: nodes, edges: edges)
    }
}

/// Self-talk's success metric (Ulmer et al. 2024): an agent utterance reaches a node when
/// its ROUGE-L F against the node's text is at least the threshold.
public struct WorkflowProgress: Sendable, Equatable {
    /// Distinct nodes reached, in the order first reached.
    public var reached: [String] = []
    public var depth: Int { reached.count }
    public var relativeDepth: Double
    public var ended: Bool

    public init(workflow: Workflow, agentUtterances: [String], ended: Bool, threshold: Double = 0.33) {
        let nodeTokens = workflow.nodes.keys.sorted().map { ($0, Words.tokens(workflow.nodes[$0]!)) }
        for u in agentUtterances {
            let t = Words.tokens(u)
            for (id, n) in nodeTokens where !reached.contains(id) && Similarity.rougeL(n, t) >= threshold {
                reached.append(id)
            }
        }
        relativeDepth = min(1, Double(reached.count) / Double(max(workflow.longestPath, 1)))
        self.ended = ended
    }
}
