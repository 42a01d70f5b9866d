// Synthesises a few dialogues with a Swift closure as the assistant's model and a
// scripted asker, then prints them. Shows the three pieces of the Swift API:
// `Config.parse`, `Engine` (with host backends), and `Runner`.
import Foundation
import Parley

let config = try Config.parse(
    """
    {"backends": {"mine": {"type": "host"}, "asker": {"type": "scripted", "words": [4, 8]}},
     "roles": {"asker": {"backend": "asker", "endpoint": "completion", "max_tokens": 32},
               "assistant": {"backend": "mine", "system_prompt": "Answer in one sentence.", "max_tokens": 64}},
     "turns": {"max": 3}, "run": {"seed": 1, "concurrency": 4}}
    """)

// The host's model: any function from a request to text. It may block (it runs on
// Parley's own threads, never on Swift's cooperative pool).
let myModel = CallbackBackend { request in
    guard case .chat(let messages) = request.prompt, let last = messages.last else {
        throw BackendError("expected a chat request", retryable: false)
    }
    return GenerationResult(text: "You said \(last.content.split(separator: " ").count) words.", finishReason: "stop")
}

let out = FileManager.default.temporaryDirectory.appendingPathComponent("parley-swift-example-\(getpid())").path
let runner = Runner(
    engine: try Engine(config: config, backends: ["mine": myModel]),
    seeds: .lines([#"{"question": "What is a good first programming language?"}"#, #"{"topic": "tea"}"#]),
    outputDir: out)
let summary = try await runner.run()
print("\(summary.stats.finished) dialogues, \(summary.stats.turns) turns, in \(out)")
for line in try String(contentsOfFile: out + "/dialogues.jsonl", encoding: .utf8).split(separator: "\n") {
    let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    for turn in row?["conversations"] as? [[String: String]] ?? [] {
        print("  \(turn["from"] ?? ""): \(turn["value"] ?? "")")
    }
    print()
}
exit(summary.stats.finished == 2 ? 0 : 1)
