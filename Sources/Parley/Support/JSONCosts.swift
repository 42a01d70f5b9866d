import FoundationEssentials

/// What Parley's JSON paths cost per line, measured inside the module for `parley-bench json`
/// (`@_spi(Benchmarks) import Parley`): the figures that justify keeping the hand-written writer
/// and parser beside Foundation's. Not API.
@_spi(Benchmarks) public enum JSONCosts {
    /// Microseconds per line (the median of `rounds` rounds of `lines` lines each):
    /// - `write_hand`, `write_codable`, `write_foundation`: a journal message line written with
    ///   `HotPathJSON.message`, with `JSONWriter.encode` (the message's `Codable` schema) and with
    ///   Foundation's `JSONEncoder`;
    /// - `parse_hand_seed`, `parse_foundation_seed`: a seeds line read into a `JSONValue` by
    ///   `JSONParser` and by `JSONDecoder`; `parse_hand_reply`, `parse_foundation_reply`: the same
    ///   for an OpenAI chat completion reply.
    public static func measure(lines: Int, rounds: Int = 5) throws -> [String: Double] {
        let words = (0..<90).map { "word\($0 % 17)" }.joined(separator: " ")
        let message = Message(
            .assistant, "Sure. " + words + ".\nAnd a second paragraph, \"quoted\".",
            meta: TurnMeta(
                role: "assistant", model: "gemma-3-270m", promptTokens: 412, completionTokens: 96, latencyMs: 850,
                finishReason: "stop"))
        let seed = #"{"id": "seed-1234", "question": "How do I keep bread fresh for a week?", "topic": "cooking"}"#
        let reply =
            #"{"id":"chatcmpl-1","object":"chat.completion","created":1733300000,"model":"gemma-3-270m","#
            + #""choices":[{"index":0,"message":{"role":"assistant","content":"\#(words)"},"#
            + #""finish_reason":"stop"}],"usage":{"prompt_tokens":412,"completion_tokens":96,"total_tokens":508}}"#
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        let seedData = Data(seed.utf8)
        let replyData = Data(reply.utf8)
        var sink = 0
        func time(_ body: () throws -> Int) rethrows -> Double {
            var rounds = (0..<rounds).map { _ in 0.0 }
            for r in rounds.indices {
                let start = ContinuousClock.now
                for _ in 0..<lines { sink &+= try body() }
                let elapsed = ContinuousClock.now - start
                rounds[r] = Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6
            }
            return rounds.sorted()[rounds.count / 2] / Double(lines)
        }
        let figures: [String: Double] = [
            "write_hand": time { journalLine(message) { HotPathJSON.message($1, into: &$0) }.count },
            "write_codable": try time { try journalLine(message) { try $0.encode($1) }.count },
            "write_foundation": try time { try encoder.encode(MessageLine(m: message)).count },
            "parse_hand_seed": try time { try JSONValue.parse(seed).objectValue?.count ?? 0 },
            "parse_foundation_seed": try time {
                try decoder.decode(JSONValue.self, from: seedData).objectValue?.count ?? 0
            },
            "parse_hand_reply": try time { try JSONValue.parse(reply).objectValue?.count ?? 0 },
            "parse_foundation_reply": try time {
                try decoder.decode(JSONValue.self, from: replyData).objectValue?.count ?? 0
            },
        ]
        blackHole(sink)
        return figures
    }

    /// Keeps the measured work from being optimised away.
    @_optimize(none) private static func blackHole(_ value: Int) {}

    /// A journal `msg` line around `m`, written by `body`.
    private static func journalLine(
        _ m: Message, _ body: (inout JSONWriter, Message) throws -> Void
    ) rethrows -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("t", "msg")
        w.field("d", "seed-1234")
        w.field("n", 3)
        w.key("m")
        try body(&w, m)
        w.endObject()
        return w.line()
    }

    private struct MessageLine: Encodable {
        var t = "msg"
        var d = "seed-1234"
        var n = 3
        var m: Message
    }
}
