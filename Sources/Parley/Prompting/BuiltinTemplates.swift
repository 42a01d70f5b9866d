/// Prompt formats of the model families people serve. `human-assistant` is the plain
/// transcript that PlatoLM/Socratic-style simulators continue.
extension Template {
    public static let builtins: [String: Template] = Dictionary(
        uniqueKeysWithValues: [
            humanAssistant, socratic, baize, vicuna, llama2, chatml, gemma,
        ].map { ($0.name, $0) })

    public static let humanAssistant = Template(
        name: "human-assistant",
        system: Part(prefix: "", suffix: "\n\n"),
        user: Part(prefix: "Human: ", suffix: "\n", opens: ["\nHuman:", "Human:"]),
        assistant: Part(prefix: "Assistant: ", suffix: "\n", opens: ["\nAssistant:", "Assistant:"]))

    /// PlatoLM's Socratic training shape: the system line, a blank line, then
    /// `Human: <s>{q}</s>Assistant: <s>{a}</s>`.
    public static let socratic = Template(
        name: "socratic",
        system: Part(prefix: "", suffix: "\n\n"),
        user: Part(prefix: "Human: <s>", suffix: "</s>", opens: ["Human:"]),
        assistant: Part(prefix: "Assistant: <s>", suffix: "</s>", opens: ["Assistant:"]),
        stop: ["</s>"])

    /// Baize's data: `[|Human|] q\n[|AI|] a\n`, a space after each tag.
    public static let baize = Template(
        name: "baize",
        system: Part(prefix: "", suffix: "\n"),
        user: Part(prefix: "[|Human|] ", suffix: "\n"),
        assistant: Part(prefix: "[|AI|] ", suffix: "\n"))

    /// Vicuna v1.1.
    public static let vicuna = Template(
        name: "vicuna",
        system: Part(prefix: "", suffix: " "),
        user: Part(prefix: "USER: ", suffix: " "),
        assistant: Part(prefix: "ASSISTANT: ", suffix: "</s>"),
        stop: ["</s>"])

    /// Llama-2 chat: `<s>[INST] <<SYS>>…<</SYS>> q [/INST] a </s>`.
    public static let llama2 = Template(
        name: "llama2",
        system: Part(prefix: "<<SYS>>\n", suffix: "\n<</SYS>>\n\n", opens: []),
        user: Part(prefix: "<s>[INST] ", suffix: " [/INST]", opens: ["[INST]"]),
        assistant: Part(prefix: " ", suffix: " </s>", opens: ["[/INST]"]),
        systemInFirstUser: true,
        stop: ["</s>"])

    public static let chatml = Template(
        name: "chatml",
        system: Part(prefix: "<|im_start|>system\n", suffix: "<|im_end|>\n"),
        user: Part(prefix: "<|im_start|>user\n", suffix: "<|im_end|>\n"),
        assistant: Part(prefix: "<|im_start|>assistant\n", suffix: "<|im_end|>\n"),
        stop: ["<|im_end|>", "<|im_start|>"])

    /// Gemma: no system role; the system text leads the first user turn.
    public static let gemma = Template(
        name: "gemma",
        system: Part(prefix: "", suffix: "\n\n", opens: []),
        user: Part(prefix: "<start_of_turn>user\n", suffix: "<end_of_turn>\n"),
        assistant: Part(prefix: "<start_of_turn>model\n", suffix: "<end_of_turn>\n"),
        systemInFirstUser: true,
        stop: ["<end_of_turn>", "<start_of_turn>"])
}
