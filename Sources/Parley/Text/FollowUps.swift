/// Heuristics over a dialogue's user turns: which lean on the context (anaphora,
/// ellipsis) and which change the topic. Built in, cheap and deterministic; a
/// model judge can confirm them where a run can afford it.
public enum FollowUps {
    /// Why a later user turn cannot be read without the history, or nil when it can:
    /// a very short follow-up ("why?"), an opener that continues ("what about …",
    /// "and …"), or a word that points back ("it", "those", "the above", "you mentioned").
    public static func contextCue(_ tokens: [Words.Token]) -> String? {
        if tokens.count <= shortTurnWords { return "short follow-up" }
        for opener in openers where tokens.starts(with: opener.tokens) { return "opens with \"\(opener.text)\"" }
        for phrase in pointerPhrases where Words.contains(tokens, phrase.tokens) {
            return "points back: \"\(phrase.text)\""
        }
        if let t = tokens.first(where: { pointerWords[$0] != nil }) { return "points back: \"\(pointerWords[t]!)\"" }
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
        "same", "instead", "another", "more", "now", "ok", "okay", "great",
    ].map(Phrase.init)
    static let pointerPhrases = [
        "you mentioned", "you said", "you suggested", "the above", "the previous",
        "the first one", "the second one", "the last one", "that one", "this one",
        "the same", "the former", "the latter", "as well",
    ].map(Phrase.init)
    static let pointerWords: [Words.Token: String] = Dictionary(
        uniqueKeysWithValues: [
            "it", "its", "itself", "that", "this", "these", "those", "they", "them", "their", "theirs", "he", "him",
            "his", "she", "her", "hers", "above", "previous", "former", "latter", "earlier", "aforementioned",
        ]
        .map { (Words.token($0), $0) })
}
