"""`parley stats`: dataset statistics over ShareGPT / messages / UltraChat / Baize files.

The figures are checked three ways: hand-computed values written literally (the small
fixtures in fixtures/stats/), an independent Python implementation of the contract
(below, `reference_stats`), and the reference packages the contract names
(`lexical-diversity` and `lexicalrichness` for MTLD, Google's `rouge-score` for ROUGE-L).
"""
import json, math, random, re, shutil, subprocess
from pathlib import Path

import pytest
from conftest import ROOT, need, parley, write_json

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stats"
SHAPE_FILES = {
    "sharegpt": FIXTURES / "sharegpt.jsonl",
    "messages": FIXTURES / "messages.jsonl",
    "ultrachat": FIXTURES / "ultrachat.jsonl",
    "baize": FIXTURES / "baize.json",
}
SYSTEM = "You are a helpful assistant."  # d1's system message in sharegpt.jsonl / messages.jsonl
TOL = 1e-9

# ---------------------------------------------------------------------------------------
# Independent implementation of the contract (no Parley code involved).

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "model": "assistant", "system": "system"}
BAIZE_MARKER = re.compile(r"\[\|(Human|AI)\|\]")


def words(text):
    return WORD.findall(text.lower())


def read_rows(path):
    """JSONL (blank lines ignored; a line that is not JSON becomes None) or one JSON array."""
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            rows.append(None)
    return rows


def messages_of(row, shape):
    """[(role, text)] with role in user/assistant/system, or None when the row lacks the shape."""
    if not isinstance(row, dict):
        return None
    if shape == "sharegpt":
        if not isinstance(row.get("conversations"), list):
            return None
        return [(SHAREGPT_ROLES[m["from"]], m["value"]) for m in row["conversations"]]
    if shape == "messages":
        if not isinstance(row.get("messages"), list):
            return None
        return [(m["role"], m["content"]) for m in row["messages"]]
    if shape == "ultrachat":
        if not isinstance(row.get("data"), list):
            return None
        return [("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(row["data"])]
    if shape == "baize":
        if not isinstance(row.get("input"), str):
            return None
        parts = BAIZE_MARKER.split(row["input"])  # [preamble, role, text, role, text, ...]
        out = []
        for role, text in zip(parts[1::2], parts[2::2]):
            text = text.strip()
            if text:
                out.append(("user" if role == "Human" else "assistant", text))
        return out
    raise ValueError(shape)


def dialogues_of(path, shape):
    """(dialogues as [(id, [(role, text)])], skipped count)."""
    out, skipped = [], 0
    for row in read_rows(path):
        msgs = messages_of(row, shape)
        if msgs is None or not any(r == "user" for r, _ in msgs):
            skipped += 1
            continue
        out.append((row.get("id"), msgs))
    return out, skipped


def summary(values):
    """mean; median (mean of the two middle values for an even count); p90 by nearest rank."""
    s = sorted(values)
    n = len(s)
    median = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return {"mean": sum(s) / n, "median": median, "p90": s[math.ceil(0.9 * n) - 1]}


def lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l_f1(a, b):
    n = lcs(a, b)
    if n == 0:
        return 0.0
    p, r = n / len(b), n / len(a)
    return 2 * p * r / (p + r)


def mtld_reference(tokens):
    """lexical-diversity 0.1.1's lex_div.mtld (min=10, threshold 0.72), written out here;
    checked against the package in test_mtld_reference_is_the_package. 0.0 = undefined."""
    def one_way(text):
        factor, lengths, start = 0.0, 0, 0
        for x in range(len(text)):
            seg = text[start:x + 1]
            ttr = len(set(seg)) / len(seg)
            if x + 1 == len(text):
                factor += (1 - ttr) / (1 - .72)
                lengths += len(seg)
            elif ttr < .720 and len(seg) >= 10:
                factor += 1
                lengths += len(seg)
                start = x + 1
        return lengths / factor if factor else 0
    return (one_way(tokens) + one_way(list(reversed(tokens)))) / 2


def lexicalrichness_words(text):
    """lexicalrichness 0.5's tokenize: lower-case, drop ASCII digits and dashes, ASCII punctuation
    to spaces, split."""
    text = re.sub(r"[0-9]+", "", text.lower()).replace("–", "").replace("—", "").replace("-", "")
    for p in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~":
        text = text.replace(p, " ")
    return text.split()


def lexicalrichness_mtld(text, threshold=0.72):
    """lexicalrichness 0.5's LexicalRichness(text).mtld(threshold), written out here; checked
    against the package in test_question_mtld_reference_is_the_package. None: no words."""
    tokens = lexicalrichness_words(text)
    if not tokens:
        return None

    def one_way(seq):
        terms, counter, factors, ttr = set(), 0, 0.0, 0.0
        for w in seq:
            counter += 1
            terms.add(w)
            ttr = len(terms) / counter
            if ttr <= threshold:
                terms, counter, factors = set(), 0, factors + 1
        if counter > 0:
            factors += (1 - ttr) / (1 - threshold)
        if factors == 0:
            overall = len(set(tokens)) / len(tokens)
            factors += 1 if overall == 1 else (1 - overall) / (1 - threshold)
        return len(tokens) / factors
    return (one_way(tokens) + one_way(list(reversed(tokens)))) / 2


def distinct(turns, n):
    grams = [tuple(t[i:i + n]) for t in turns for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def reference_stats(dialogues, skipped=0, mtld=mtld_reference, rouge=rouge_l_f1, question_mtld=lexicalrichness_mtld):
    """The contract's figures (not context_dependent/topic_shifts) for dialogues ≤ --sample
    (≤ 100 for dialogue diversity), none of them from a seed."""
    user_texts = [t for _, msgs in dialogues for r, t in msgs if r == "user"]
    user_turns = [words(t) for t in user_texts]
    question_mtlds = [m for m in map(question_mtld, user_texts) if m is not None]
    whole = [[w for r, t in msgs if r in ("user", "assistant") for w in words(t)] for _, msgs in dialogues]
    turns_of_dialogues = [words(t) for _, msgs in dialogues for r, t in msgs if r in ("user", "assistant")]
    dialogue_pairs = [(i, j) for i in range(len(whole)) for j in range(i + 1, len(whole))]
    assistant_turns = [words(t) for _, msgs in dialogues for r, t in msgs if r == "assistant"]
    turns = [sum(r == "user" for r, _ in msgs) for _, msgs in dialogues]
    histogram = {}
    for t in turns:
        histogram[str(t)] = histogram.get(str(t), 0) + 1
    per_dialogue_words = [sum(len(words(t)) for r, t in msgs if r in ("user", "assistant")) for _, msgs in dialogues]
    mtlds = [mtld([w for r, t in msgs if r == "user" for w in words(t)]) for _, msgs in dialogues]
    mtlds = [m for m in mtlds if m != 0]
    pairs = [(i, j) for i in range(len(user_turns)) for j in range(i + 1, len(user_turns))]
    return {
        "dialogues": len(dialogues), "skipped": skipped,
        "turns": {**summary(turns), "histogram": histogram},
        "words": {"user_turn": summary([len(t) for t in user_turns]),
                  "assistant_turn": summary([len(t) for t in assistant_turns]),
                  "dialogue": summary(per_dialogue_words)},
        "mtld": sum(mtlds) / len(mtlds) if mtlds else None,
        "mtld_per_question": {"mean": sum(question_mtlds) / len(question_mtlds) if question_mtlds else None,
                              "questions": len(question_mtlds)},
        "distinct_1": distinct(user_turns, 1), "distinct_2": distinct(user_turns, 2),
        "self_rouge": {"questions": len(user_turns), "pairs": len(pairs),
                       "mean": sum(rouge(user_turns[i], user_turns[j]) for i, j in pairs) / len(pairs) if pairs else None},
        "dialogue_diversity": {
            "rouge_l": 1 - sum(rouge(whole[i], whole[j]) for i, j in dialogue_pairs) / len(dialogue_pairs)
            if dialogue_pairs else None,
            "dialogues": len(whole), "pairs": len(dialogue_pairs),
            "distinct_1": distinct(turns_of_dialogues, 1), "distinct_2": distinct(turns_of_dialogues, 2)},
    }


def assert_matches(actual, expected, where="dataset"):
    """Every key of `expected` is in `actual` with the same value (floats to 1e-9; a
    histogram's zero-count entries are ignored)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        if where.endswith(".histogram"):
            actual = {k: v for k, v in actual.items() if v}
            assert actual == expected, f"{where}: expected {expected}, got {actual}"
            return
        for k, v in expected.items():
            assert k in actual, f"{where}: missing key {k!r} (has {sorted(actual)})"
            assert_matches(actual[k], v, f"{where}.{k}")
    elif expected is None:
        assert actual is None, f"{where}: expected null, got {actual!r}"
    elif isinstance(expected, float) or isinstance(actual, float):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), f"{where}: expected {expected!r}, got {actual!r}"
        assert abs(actual - expected) <= TOL, f"{where}: expected {expected!r}, got {actual!r}"
    else:
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"


def stats_json(*args):
    p = parley("stats", *args, "--json", "--quiet")
    assert p.returncode == 0, f"parley stats exited {p.returncode}: {p.stderr}"
    return json.loads(p.stdout)


def without_identity(d, *also):
    return {k: v for k, v in d.items() if k not in ("name", "path", "shape", *also)}


def write_messages_jsonl(path, dialogues):
    """dialogues: [[user, assistant, user, ...], ...] → messages-shape JSONL."""
    rows = [{"id": f"x{i}", "messages": [{"role": "user" if j % 2 == 0 else "assistant", "content": t}
                                          for j, t in enumerate(d)]} for i, d in enumerate(dialogues)]
    Path(path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------------------------------
# The hand-made fixtures: 4 dialogues (+ 1 row with no user message) in each shape.

# Hand computation (the tokenizer counts "it's", "that's", "you're", "isn’t" as one word,
# "e-mail" as two, and ignores punctuation):
#   d1 user:      how do i boil an egg (6) | what about a soft one (5) | and if it's large (4) | thanks that's helpful (3)
#      assistant: put it in boiling water for nine minutes (8) | six minutes is enough (4) | add one more minute (4) | you're welcome (2)
#      (the system message "You are a helpful assistant." — 5 words — is not counted anywhere)
#   d2 user:      name three primary colours (4);  assistant: red yellow and blue (4)
#   d3 user:      can you recommend a science fiction novel (7) | is it long (3) | is there a film (4) | which one should i watch first (6)
#      assistant: try dune by frank herbert (5) | yes about six hundred pages (5) | there are two films / and a series (7)
#   d4 user:      how do i translate e mail into french (8) | isn’t that canadian (3)
#      assistant: it is courriel (3) | yes it comes from quebec but france uses it too (10)
# turns (user messages) per dialogue: 4, 1, 4, 2 → sorted 1 2 4 4:
#   mean 11/4 = 2.75, median (2+4)/2 = 3, p90 = sorted[ceil(3.6)-1 = 3] = 4, histogram {1: 1, 2: 1, 4: 2}
# user turns (11): 6 5 4 3 4 7 3 4 6 8 3 = 53 → mean 53/11; sorted 3 3 3 4 4 4 5 6 6 7 8 → median sorted[5] = 4,
#   p90 = sorted[ceil(9.9)-1 = 9] = 7
# assistant turns (10): 8 4 4 2 4 5 5 7 3 10 = 52 → mean 5.2; sorted 2 3 4 4 4 5 5 7 8 10 → median (4+5)/2 = 4.5,
#   p90 = sorted[ceil(9.0)-1 = 8] = 8
# dialogue words (user+assistant): d1 18+18 = 36, d2 4+4 = 8, d3 20+17 = 37, d4 11+13 = 24 → mean 105/4 = 26.25,
#   sorted 8 24 36 37 → median (24+36)/2 = 30, p90 = sorted[3] = 37
# self-ROUGE over the 11 user turns (none came from a seed: no meta), 55 pairs, F = 2·LCS/(m+n):
#   "how do i boil an egg" / "how do i translate e mail into french" 6/14 = 3/7; "i": with "which one
#   should i watch first" 2/12, and that / the french one 2/14; "a": "what about a soft one" / "can you
#   recommend a science fiction novel" 2/12, / "is there a film" 2/9, and those two 2/11; "one": "what
#   about a soft one" / "which one …" 2/11; "is": "is it long" / "is there a film" 2/7; the rest 0
#   → (6/7 + 1/3 + 2/9 + 4/11)/55 = (1231/693)/55
# MTLD per question (lexicalrichness: "it's" → "it s", "e-mail" → "email", "isn’t" kept whole): no
#   question repeats a word, so each scores its length: 6 5 5 4 4 7 3 4 6 7 3 → 54/11
# skipped: 1 per file (a row whose only messages are a system prompt / an assistant reply /
#   nothing / an empty trailing [|Human|]); the blank lines in the JSONL files are not rows.
HAND = {
    "dialogues": 4, "skipped": 1,
    "turns": {"mean": 2.75, "median": 3.0, "p90": 4, "histogram": {"1": 1, "2": 1, "4": 2}},
    "words": {"user_turn": {"mean": 53 / 11, "median": 4.0, "p90": 7},
              "assistant_turn": {"mean": 5.2, "median": 4.5, "p90": 8},
              "dialogue": {"mean": 26.25, "median": 30.0, "p90": 37}},
    "self_rouge": {"mean": 1231 / 693 / 55, "questions": 11, "pairs": 55},
    "mtld_per_question": {"mean": 54 / 11, "questions": 11},
}


@pytest.mark.parametrize("shape", list(SHAPE_FILES))
def test_reference_reads_the_fixtures_as_hand_computed(shape):
    """Checks this file's own reference implementation (no binary involved)."""
    dialogues, skipped = dialogues_of(SHAPE_FILES[shape], shape)
    assert [i for i, _ in dialogues] == (["d1", "d2", "d3", "d4"] if shape != "baize" else [None] * 4)
    assert_matches(reference_stats(dialogues, skipped), HAND, f"reference[{shape}]")


@pytest.mark.parametrize("shape", list(SHAPE_FILES))
def test_hand_computed_figures(shape):
    doc = stats_json(SHAPE_FILES[shape])
    assert len(doc["datasets"]) == 1
    d = doc["datasets"][0]
    assert d["shape"] == shape  # auto-detected
    assert d["name"] == SHAPE_FILES[shape].name
    assert Path(d["path"]).resolve() == SHAPE_FILES[shape].resolve()
    assert_matches(d, HAND, shape)
    # The diversity figures against the independent implementation.
    dialogues, skipped = dialogues_of(SHAPE_FILES[shape], shape)
    assert_matches(d, reference_stats(dialogues, skipped), shape)


def test_the_four_shapes_give_identical_figures():
    files = list(SHAPE_FILES.values())
    names = ["ShareGPT", "Messages", "UltraChat", "Baize"]
    args = [*files]
    for n in names:
        args += ["--name", n]
    doc = stats_json(*args)
    ds = doc["datasets"]
    assert [d["name"] for d in ds] == names
    assert [d["shape"] for d in ds] == list(SHAPE_FILES)
    assert [Path(d["path"]).resolve() for d in ds] == [f.resolve() for f in files]
    first = without_identity(ds[0])
    assert first["dialogues"] == 4
    for d in ds[1:]:
        assert without_identity(d) == first, f"{d['name']} differs from {ds[0]['name']}"
    assert doc["settings"]["sample"] == 1000
    assert doc["settings"]["threshold_mtld"] == 0.72


def test_forced_shape_reads_the_named_key(tmp_path):
    """Rows that carry both a `conversations` and a `messages` list: --shape picks which."""
    rows = [{"id": "a",
             "conversations": [{"from": "human", "value": "one two three"}, {"from": "gpt", "value": "four"}],
             "messages": [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
                          {"role": "user", "content": "three"}, {"role": "assistant", "content": "four five"}]}]
    path = tmp_path / "both.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n")
    sg = stats_json(path, "--shape", "sharegpt")["datasets"][0]
    ms = stats_json(path, "--shape", "messages")["datasets"][0]
    assert sg["shape"] == "sharegpt" and ms["shape"] == "messages"
    assert sg["turns"]["histogram"] == {"1": 1} and sg["words"]["dialogue"]["mean"] == 4
    assert ms["turns"]["histogram"] == {"2": 1} and ms["words"]["dialogue"]["mean"] == 5
    uc = stats_json(SHAPE_FILES["ultrachat"], "--shape", "ultrachat")["datasets"][0]
    assert uc["shape"] == "ultrachat" and uc["dialogues"] == 4
    # `--shape auto` is the default, spelled out.
    auto = stats_json(SHAPE_FILES["baize"], SHAPE_FILES["messages"], "--shape", "auto")["datasets"]
    assert [d["shape"] for d in auto] == ["baize", "messages"]


def test_sharegpt_role_names_and_skipped_lines(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([
        "this line is not JSON",
        json.dumps([1, 2, 3]),                                       # JSON, but not an object
        json.dumps({"id": "k", "text": "no conversations key"}),     # lacks the shape's key
        json.dumps({"conversations": [{"from": "system", "value": "Sys."}, {"from": "user", "value": "Alpha beta?"},
                                      {"from": "chatgpt", "value": "Gamma."}]}),
        "",
        json.dumps({"conversations": [{"from": "human", "value": "Delta?"}, {"from": "bard", "value": "Epsilon zeta."},
                                      {"from": "user", "value": "Eta theta iota?"}, {"from": "model", "value": "Kappa."}]}),
        json.dumps({"conversations": [{"from": "gpt", "value": "Only the assistant speaks."}]}),   # no user message
        json.dumps({"conversations": [{"from": "human", "value": "Lambda mu nu xi?"}, {"from": "assistant", "value": "Omicron pi."}]}),
    ]) + "\n")
    d = stats_json(path)["datasets"][0]
    assert d["shape"] == "sharegpt"
    assert d["dialogues"] == 3 and d["skipped"] == 4
    assert d["turns"]["histogram"] == {"1": 2, "2": 1}
    # user turns: 2, 1, 3, 4 words; assistant turns: 1, 2, 1, 2; dialogues: 3, 7, 6 (system excluded)
    assert_matches(d["words"], {"user_turn": {"mean": 2.5, "median": 2.5, "p90": 4},
                                "assistant_turn": {"mean": 1.5, "median": 1.5, "p90": 2},
                                "dialogue": {"mean": 16 / 3, "median": 6, "p90": 7}}, "words")


# ---------------------------------------------------------------------------------------
# MTLD, distinct-n and self-ROUGE on a larger generated dataset, against the packages.

VOCAB = ("the a of to and in is for on with how what why when which can does do explain describe "
         "water light energy plants cells river mountain city history science music guitar piano "
         "recipe bread soup garden tree forest ocean planet star moon sun engine car train bicycle "
         "market price money bank loan school teacher student book library language grammar verb "
         "noun computer program python network server database memory disk file error bug test "
         "weather rain snow wind storm summer winter spring autumn health sleep diet exercise heart "
         "brain muscle doctor medicine travel map road bridge tower museum painting colour red blue "
         "green 3 42 1999 well-known long-term e-mail quickly slowly best worst first last new old").split()


def generated_dialogues(count=40, seed=20240611):
    """Deterministic varied ASCII dialogues (no apostrophes or underscores), Zipf-like words
    so that MTLD factors complete; dialogue 0's user words are all distinct (MTLD undefined)."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(VOCAB))]

    def sentence(lo, hi):
        ws = rng.choices(VOCAB, weights, k=rng.randint(lo, hi))
        if len(ws) > 4 and rng.random() < 0.3:
            ws[rng.randrange(1, len(ws) - 1)] += ","
        ws[0] = ws[0].capitalize()
        return " ".join(ws) + rng.choice(["?", ".", "!", "?"])

    out = [["Hello there friend.", "Hi, how can I help?"]]
    for _ in range(count - 1):
        msgs = []
        for _ in range(rng.randint(1, 6)):
            msgs += [sentence(2, 22), sentence(3, 30)]
        if rng.random() < 0.25:
            msgs.pop()  # ends with a user turn
        out.append(msgs)
    return out


def rouge_score_f1(a, b):
    from rouge_score import rouge_scorer
    return rouge_scorer.RougeScorer(["rougeL"]).score(a, b)["rougeL"].fmeasure


def test_mtld_reference_is_the_package():
    """The MTLD written out above is exactly lexical-diversity's, on the generated dialogues
    and on edge cases (empty, all distinct, a factor ending on the last token)."""
    try:
        from lexical_diversity import lex_div as ld
    except ImportError:
        ld = None
    need(ld is not None, "the `lexical-diversity` package is not installed")
    cases = [[], ["a"], "a b c d".split(), "a a a a".split(), ("x y " * 7).split(), "a b c d e f g h i j a b".split()]
    cases += [[w for r, t in enumerate(d) if r % 2 == 0 for w in words(t)] for d in generated_dialogues()]
    for tokens in cases:
        assert mtld_reference(tokens) == ld.mtld(tokens), tokens


_W = [f"w{i}" for i in range(1, 19)]
MTLD_EDGE_CASES = {
    # TTR drops below 0.72 after 2 tokens, but lexical-diversity closes a factor only at
    # 10 tokens or more (its `min=10`): 17.92 (without the minimum: 12.96).
    "min_length": "a a b c d e f g".split(),
    # TTR is exactly 18/25 = 0.72 at token 25: the package's test is `ttr < 0.72`, so the
    # factor closes at token 26: 18.788732394366196 (with `<=`: 19.705128205128204).
    "strict_less": _W + _W[:7] + ["w1", "x", "x", "x"],
    # TTR first drops below 0.72 at the last token (7/10): the package scores the last
    # segment as a partial factor (1 - 0.7) / (1 - 0.72), it never counts a full factor
    # there: 9.333333333333334 (a full factor there: 10.0).
    "last_token": "a b c d e f g a b c".split(),
}


@pytest.mark.parametrize("case", list(MTLD_EDGE_CASES))
def test_mtld_edge_cases_match_lexical_diversity(tmp_path, case):
    try:
        from lexical_diversity import lex_div as ld
    except ImportError:
        ld = None
    need(ld is not None, "the `lexical-diversity` package is not installed")
    tokens = MTLD_EDGE_CASES[case]
    path = write_messages_jsonl(tmp_path / f"{case}.jsonl", [[" ".join(tokens), "Fine."]])
    d = stats_json(path)["datasets"][0]
    assert d["mtld"] is not None and abs(d["mtld"] - ld.mtld(tokens)) <= TOL, \
        f"{case}: lexical-diversity gives {ld.mtld(tokens)!r}, parley {d['mtld']!r}"


def lexicalrichness_package():
    try:
        from lexicalrichness import LexicalRichness
    except ImportError:
        LexicalRichness = None
    need(LexicalRichness is not None, "the `lexicalrichness` package is not installed")
    return lambda text: LexicalRichness(text).mtld(threshold=0.72) if LexicalRichness(text).words else None


QUESTION_MTLD_CASES = [
    "What is the capital of France?",            # no word repeats: MTLD = its length, 6
    "",                                          # no words: undefined (the package divides by zero)
    "42 -- 7!",                                  # digits and dashes dropped, punctuation split: no words
    "the the the the",                           # a factor at the 2nd word (TTR 1/2 ≤ 0.72)
    "a b c d e f g a b c d e f g h",             # TTR reaches 0.72 exactly nowhere, closes at 9/13 < 0.72
    " ".join(["w%d" % i for i in range(18)] + ["w%d" % i for i in range(7)]),  # 18/25 = 0.72 exactly: closes
    "Well-known e-mail — state-of-the-art; it's 2024's best (really) “quoted” Café CAFÉ café",
    "Isn’t it? Tabs\tand\u00a0no-break\u2003spaces, ünïcödé ÜNÏCÖDÉ and the end. And the end.",
]


def test_question_mtld_reference_is_the_package():
    """The MTLD per question written out above is exactly lexicalrichness's, its tokens included."""
    package = lexicalrichness_package()
    from lexicalrichness import LexicalRichness
    generated = [t for d in generated_dialogues() for i, t in enumerate(d) if i % 2 == 0]
    for text in QUESTION_MTLD_CASES + generated:
        assert lexicalrichness_words(text) == LexicalRichness(text).wordlist, text
        assert lexicalrichness_mtld(text) == package(text), text


def test_question_mtld_matches_lexicalrichness(tmp_path):
    """Each case alone as a dataset's only question: parley's figure is the package's to 1e-9."""
    package = lexicalrichness_package()
    for i, text in enumerate(QUESTION_MTLD_CASES):
        path = write_messages_jsonl(tmp_path / f"q{i}.jsonl", [[text, "Fine."]])
        q = stats_json(path)["datasets"][0]["mtld_per_question"]
        expected = package(text)
        if expected is None:
            assert q == {"mean": None, "questions": 0}, text
        else:
            assert q["questions"] == 1 and abs(q["mean"] - expected) <= TOL, f"{text!r}: {expected} vs {q}"
    assert package(QUESTION_MTLD_CASES[0]) == 6


def test_dialogue_diversity_takes_a_sample_of_100(tmp_path):
    rng = random.Random(3)
    raw = [[" ".join(rng.choice(_W) for _ in range(4)), "Yes."] for _ in range(120)]
    d = stats_json(write_messages_jsonl(tmp_path / "many.jsonl", raw))["datasets"][0]["dialogue_diversity"]
    assert d["dialogues"] == 100 and d["pairs"] == 4950
    assert 0 < d["rouge_l"] < 1


def test_diversity_figures_match_the_reference_packages(tmp_path):
    try:
        from lexical_diversity import lex_div as ld
        import rouge_score  # noqa: F401
        missing = None
    except ImportError as e:
        missing = e.name
    need(missing is None, f"a reference package is not installed (lexical-diversity, rouge-score): {missing}")
    question_mtld = lexicalrichness_package()
    raw = generated_dialogues()
    path = write_messages_jsonl(tmp_path / "generated.jsonl", raw)
    dialogues, skipped = dialogues_of(path, "messages")
    assert len(dialogues) == 40 and skipped == 0

    with_packages = reference_stats(dialogues, mtld=ld.mtld, rouge=lambda a, b: rouge_score_f1(" ".join(a), " ".join(b)),
                                    question_mtld=question_mtld)
    own = reference_stats(dialogues)
    assert_matches(own, with_packages, "own-vs-packages")   # the contract's definitions == the packages here
    # rouge-score tokenizes the original text itself: same result on this ASCII text.
    firsts = [next(t for r, t in msgs if r == "user") for _, msgs in dialogues]
    assert rouge_score_f1(firsts[1], firsts[2]) == rouge_l_f1(words(firsts[1]), words(firsts[2]))
    # The fixture exercises what it should: MTLD defined for most dialogues, undefined for one.
    user_tokens = [[w for r, t in msgs if r == "user" for w in words(t)] for _, msgs in dialogues]
    assert ld.mtld(user_tokens[0]) == 0 and sum(ld.mtld(t) > 0 for t in user_tokens) >= 30

    d = stats_json(path)["datasets"][0]
    assert d["shape"] == "messages"
    assert_matches(d, with_packages, "generated")


def test_self_rouge_sample(tmp_path):
    path = write_messages_jsonl(tmp_path / "generated.jsonl", generated_dialogues())
    a = stats_json(path, "--sample", "10")
    b = stats_json(path, "--sample", "10")
    assert a["settings"]["sample"] == 10
    sr = a["datasets"][0]["self_rouge"]
    assert sr["questions"] == 10 and sr["pairs"] == 45
    assert sr == b["datasets"][0]["self_rouge"], "the sample is not deterministic"
    dialogues, _ = dialogues_of(path, "messages")
    turns = [words(t) for _, msgs in dialogues for r, t in msgs if r == "user"]
    scores = [rouge_l_f1(turns[i], turns[j]) for i in range(len(turns)) for j in range(i + 1, len(turns))]
    assert min(scores) <= sr["mean"] <= max(scores)
    # A sample at least the number of user turns takes every one.
    full = stats_json(path, "--sample", str(len(turns)))["datasets"][0]["self_rouge"]
    assert full["questions"] == len(turns) and full["pairs"] == len(scores)
    assert abs(full["mean"] - sum(scores) / len(scores)) <= TOL


def test_undefined_figures_are_null(tmp_path):
    """One dialogue whose user words are all distinct: no MTLD, no pair for self-ROUGE."""
    path = write_messages_jsonl(tmp_path / "one.jsonl", [["Hello there friend.", "Hi."]])
    d = stats_json(path)["datasets"][0]
    assert d["mtld"] is None
    assert d["self_rouge"] == {"mean": None, "questions": 1, "pairs": 0}
    assert d["mtld_per_question"] == {"mean": 3.0, "questions": 1}   # lexicalrichness: a text without repeats
    assert d["dialogue_diversity"]["rouge_l"] is None and d["dialogue_diversity"]["pairs"] == 0
    assert d["distinct_1"] == 1.0 and d["distinct_2"] == 1.0
    assert d["context_dependent"] == {"per_dialogue": 0.0, "share": 0.0}
    assert d["topic_shifts"]["per_dialogue"] == 0.0


# ---------------------------------------------------------------------------------------
# Context dependence and topic shifts: clear cases only.

CONTEXT_CASES = {
    # Both follow-ups need the earlier exchange to be understood.
    "dependent": ["List the planets of the solar system.",
                  "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and Neptune.",
                  "What about the second one?",
                  "Venus is the hottest planet.",
                  "Why?",
                  "Its thick atmosphere traps heat."],
    # Self-contained questions on unrelated subjects: not dependent, and each one a shift.
    "shifts": ["Explain photosynthesis in plants.",
               "Plants turn light, water and carbon dioxide into sugar and oxygen.",
               "Describe the history of the Roman Empire.",
               "Rome grew from a small city state into a vast empire over many centuries.",
               "Summarize the rules of chess.",
               "Each player moves one piece per turn and tries to checkmate the opposing king."],
    # A self-contained follow-up that repeats the topic's words: neither dependent nor a shift.
    "same_topic": ["Explain how volcanoes erupt.",
                   "Magma rises through cracks in the crust until gas pressure forces it out.",
                   "Explain how volcanoes form magma chambers beneath the crust.",
                   "Magma collects in chambers where rock melts under the crust."],
}
CONTEXT_EXPECTED = {
    # later user turns: 2 flagged of 2; 0 of 2 (2 shifts); 0 of 1
    "dependent": ({"per_dialogue": 2.0, "share": 1.0}, 0.0),
    "shifts": ({"per_dialogue": 0.0, "share": 0.0}, 2.0),
    "same_topic": ({"per_dialogue": 0.0, "share": 0.0}, 0.0),
}


def test_context_dependence_and_topic_shifts(tmp_path):
    paths = [write_messages_jsonl(tmp_path / f"{name}.jsonl", [d]) for name, d in CONTEXT_CASES.items()]
    ds = stats_json(*paths)["datasets"]
    for (name, (context, shifts)), d in zip(CONTEXT_EXPECTED.items(), ds):
        assert d["name"] == f"{name}.jsonl"
        assert_matches(d["context_dependent"], context, f"{name}.context_dependent")
        assert_matches(d["topic_shifts"], {"per_dialogue": shifts}, f"{name}.topic_shifts")
    # All three dialogues in one dataset: 2 flagged of 5 later turns, 2 shifts, over 3 dialogues.
    together = write_messages_jsonl(tmp_path / "together.jsonl", list(CONTEXT_CASES.values()))
    d = stats_json(together)["datasets"][0]
    assert_matches(d["context_dependent"], {"per_dialogue": 2 / 3, "share": 2 / 5}, "together.context_dependent")
    assert_matches(d["topic_shifts"], {"per_dialogue": 2 / 3}, "together.topic_shifts")


# ---------------------------------------------------------------------------------------
# The CLI surface: errors, markdown, --out, --quiet, the HTML report.

def test_missing_file_and_unrecognisable_shape(tmp_path):
    p = parley("stats", tmp_path / "nope.jsonl", "--quiet")
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1 and "nope.jsonl" in p.stderr, p.stderr
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"foo": 1}\n{"bar": [1, 2]}\n')
    p = parley("stats", odd, "--quiet")
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1 and "odd.jsonl" in p.stderr, p.stderr


def table_lines(markdown):
    return [l for l in markdown.splitlines() if l.strip().startswith("|")]


def test_markdown_table_and_out_dir(tmp_path):
    files = [SHAPE_FILES["sharegpt"], SHAPE_FILES["ultrachat"]]
    out = tmp_path / "report"
    p = parley("stats", *files, "--name", "Alpha", "--name", "Beta", "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""                      # --quiet
    table = table_lines(p.stdout)
    assert len(table) >= 3, p.stdout           # header, separator, at least one row
    assert any(re.match(r"^\|\s*:?-{3,}", l.strip()) for l in table), p.stdout
    assert "Alpha" in p.stdout and "Beta" in p.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(p.stdout)
    for f in ("stats.json", "stats.md", "stats.html"):
        assert (out / f).is_file(), f
    md = (out / "stats.md").read_text()
    assert all(l in md for l in table)
    # stats.json is the document --json prints.
    doc = json.loads((out / "stats.json").read_text())
    printed = stats_json(*files, "--name", "Alpha", "--name", "Beta")
    assert doc["datasets"] == printed["datasets"]
    assert doc["settings"]["sample"] == printed["settings"]["sample"] == 1000
    assert [d["name"] for d in doc["datasets"]] == ["Alpha", "Beta"]


def test_progress_goes_to_stderr_only(tmp_path):
    p = parley("stats", SHAPE_FILES["messages"], "--json")
    assert p.returncode == 0, p.stderr
    json.loads(p.stdout)                       # stdout is only the document
    q = parley("stats", SHAPE_FILES["messages"], "--json", "--quiet")
    assert q.stderr == "" and json.loads(q.stdout)["datasets"] == json.loads(p.stdout)["datasets"]


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


# Chromium's log line for a page's console message (console.log/warn/error alike, and
# uncaught exceptions as "Uncaught …"):  [pid:tid:time:INFO:CONSOLE:12] "text", source: URL (12)
# (older builds write INFO:CONSOLE(12)).
CONSOLE_LINE = re.compile(r":CONSOLE[:(]\d+\)?\] \"(.*)\", source: ")


def render(html_path, tmp_path):
    """Headless Chromium, as root in a container: returns (DOM after scripts ran, console lines)."""
    exe = chromium_binary()
    need(exe is not None, "Chromium is not installed (Debian package `chromium`)")
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=5000",                 # let timers / deferred scripts run
            "--host-resolver-rules=MAP * ~NOTFOUND",     # nothing remote can load
            "--dump-dom", Path(html_path).resolve().as_uri()]
    p = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0 and "<html" in p.stdout.lower(), f"chromium exited {p.returncode}:\n{p.stderr[-3000:]}"
    return p.stdout, [line for line in p.stderr.splitlines() if CONSOLE_LINE.search(line)]


def test_render_helper_sees_console_errors(tmp_path):
    """The detector itself: a page with a console.error and an uncaught exception is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><html><body><svg></svg><script>console.error('boom');"
                    "setTimeout(function(){ missingFunction(); }, 100);</script></body></html>")
    dom, console = render(page, tmp_path)
    assert "<svg" in dom
    assert any('"boom"' in c for c in console) and any("Uncaught ReferenceError" in c for c in console), console


EXTERNAL = [
    re.compile(r"\bsrc\s*=\s*[\"']?(?!data:|#)[^\"'\s>]", re.I),                  # <script src>, <img src>, …
    re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?!data:|#)[^\"'\s>]", re.I),     # stylesheets, fonts, icons
    re.compile(r"@import", re.I),
    re.compile(r"url\(\s*[\"']?(?!data:|#)[^)\"'\s]", re.I),                      # CSS url(...)
    re.compile(r"<(?:use|image)\b[^>]*\bhref\s*=\s*[\"']?(?!data:|#)[^\"'\s>]", re.I),  # SVG references
]


def test_html_report_is_self_contained_and_renders(tmp_path):
    out = tmp_path / "report"
    names = ["Alpha", "Beta & <Gamma>"]
    p = parley("stats", SHAPE_FILES["sharegpt"], SHAPE_FILES["baize"], "--name", names[0], "--name", names[1],
               "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    html = (out / "stats.html").read_text()
    for pattern in EXTERNAL:
        m = pattern.search(html)
        assert m is None, f"external resource in stats.html: {html[max(0, m.start() - 80):m.end() + 80]!r}"
    assert html.lower().count("<svg") >= 3, "expected inline <svg> charts (turns histogram, lengths, side by side)"
    dom, console = render(out / "stats.html", tmp_path)
    assert console == [], "console messages while rendering stats.html:\n" + "\n".join(console)
    assert dom.lower().count("<svg") >= 3
    assert "Alpha" in dom
    assert "Beta &amp; &lt;Gamma&gt;" in dom, "the second dataset's name (HTML-escaped) is not in the page"
    assert "<gamma>" not in dom.lower(), "a dataset name was written into the page unescaped"
