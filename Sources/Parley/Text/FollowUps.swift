/// Heuristics over a dialogue's user turns: which lean on the context (anaphora,
/// ellipsis) and which change the topic. Built in, cheap and deterministic; a
/// model judge can confirm them where a run can afford it.
public enum FollowUps {
    /// Why a later user turn cannot be read without the history, or nil when it can:
    /// a very short follow-up ("why?"), an opener that continues ("what about …",
    /// "and …", "elaborate …"), a word that points back ("it", "those", "the above", "you
    /// mentioned", "three more"), or a part of an earlier answer ("the second paragraph").
    public static func contextCue(_ tokens: [Words.Token]) -> String? {
        if tokens.count <= shortTurnWords { return "short follow-up" }
        for opener in openers where tokens.starts(with: opener.tokens) { return "opens with \"\(opener.text)\"" }
        for phrase in pointerPhrases where Words.contains(tokens, phrase.tokens) {
            return "points back: \"\(phrase.text)\""
        }
        if let part = partReference(tokens) { return "points back: \"\(part)\"" }
        if let t = tokens.first(where: { pointerWords[$0] != nil }) { return "points back: \"\(pointerWords[t]!)\"" }
        return nil
    }

    /// "the <ordinal> <part>" ("the second paragraph", "the last step"), or nil.
    static func partReference(_ tokens: [Words.Token]) -> String? {
        guard tokens.count >= 3 else { return nil }
        for i in 0..<(tokens.count - 2) where tokens[i] == the {
            if let ordinal = ordinals[tokens[i + 1]], let part = parts[tokens[i + 2]] {
                return "the \(ordinal) \(part)"
            }
        }
        return nil
    }

    /// Whether `turn`, a user turn without a `contextCue`, starts a new topic after
    /// `previous` (the last exchange's words): at most `overlap` of its content words
    /// appear in the previous exchange.
    public static func shiftsTopic(_ turn: [Words.Token], after previous: [Words.Token], overlap: Double = 0.1) -> Bool
    {
        let content = Set(turn.filter { !Stopwords.tokens.contains($0) })
        guard !content.isEmpty else { return false }
        let before = Set(previous.filter { !Stopwords.tokens.contains($0) })
        return Double(content.intersection(before).count) / Double(content.count) <= overlap
    }

    static let shortTurnWords = 3

    struct Phrase {
        let text: String
        let tokens: [Words.Token]
        init(_ text: String) {
            self.text = text
            tokens = Words.tokens(text)
        }
    }

    static let openers = [
        "what about", "how about", "and", "also", "but", "so", "then", "what if", "why",
        "same", "instead", "another", "more", "now", "ok", "okay", "great", "one more", "tell me more",
        "continue", "elaborate", "rephrase",
    ].map(Phrase.init)
    static let pointerPhrases = [
        "you mentioned", "you said", "you suggested", "the above", "the previous",
        "the first one", "the second one", "the last one", "that one", "this one",
        "the same", "the former", "the latter", "as well", "more examples", "more details", "a few more",
        "one more", "two more", "three more", "in more detail", "the rest",
    ].map(Phrase.init)
    static let the = Words.token("the")
    static let ordinals = lookup(["first", "second", "third", "fourth", "fifth", "last", "next", "final"])
    static let parts = lookup([
        "paragraph", "point", "step", "example", "option", "item", "sentence", "part", "line", "section",
        "question", "answer", "version", "list", "idea", "suggestion",
    ])
    static func lookup(_ words: [String]) -> [Words.Token: String] {
        Dictionary(uniqueKeysWithValues: words.map { (Words.token($0), $0) })
    }
    static let pointerWords = lookup([
        "it", "its", "itself", "that", "this", "these", "those", "they", "them", "their", "theirs", "he", "him",
        "his", "she", "her", "hers", "above", "previous", "former", "latter", "earlier", "aforementioned",
    ])
}
