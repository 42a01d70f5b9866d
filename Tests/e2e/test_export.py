"""`parley convert` between the four dialogue shapes, and `parley export --format asker-sft`
(training data for a user simulator from ordinary dialogues)."""
import json, re
from pathlib import Path

import pytest
from conftest import need, parley, read_jsonl
from test_stats import SHAPE_FILES, SYSTEM, dialogues_of, messages_of, read_rows, stats_json, without_identity

SHAPES = list(SHAPE_FILES)
KEY = {"sharegpt": "conversations", "messages": "messages", "ultrachat": "data", "baize": "input"}
IDS = ["d1", "d2", "d3", "d4"]


def spoken(msgs):
    """The user/assistant messages of a dialogue, in order (system messages left out)."""
    return [(r, t) for r, t in msgs if r != "system"]


def original(shape):
    dialogues, skipped = dialogues_of(SHAPE_FILES[shape], shape)
    assert len(dialogues) == 4 and skipped == 1
    return dialogues


def convert(src, to, out=None, *extra):
    args = ["convert", src, "--to", to, *extra]
    if out is not None:
        args += ["--out", out]
    p = parley(*args)
    assert p.returncode == 0, f"parley {' '.join(map(str, args))} exited {p.returncode}: {p.stderr}"
    return p


def check_shape(path, shape):
    """Every line is a row of `shape` with a user message; returns the dialogues."""
    rows = read_jsonl(path)
    assert rows, f"{path} is empty"
    for row in rows:
        assert isinstance(row, dict) and KEY[shape] in row, f"not a {shape} row: {row}"
        if shape == "sharegpt":
            assert all(set(m) >= {"from", "value"} for m in row["conversations"]), row
        if shape == "messages":
            assert all(m["role"] in ("system", "user", "assistant") for m in row["messages"]), row
        if shape == "ultrachat":
            assert all(isinstance(t, str) for t in row["data"]), row
        if shape == "baize":
            assert "[|Human|]" in row["input"], row
    dialogues, skipped = dialogues_of(path, shape)
    assert skipped == 0
    return dialogues


@pytest.mark.parametrize("src", SHAPES)
@pytest.mark.parametrize("dst", SHAPES)
def test_round_trip_preserves_the_text(tmp_path, src, dst):
    there, back = tmp_path / f"there.{dst}.jsonl", tmp_path / f"back.{src}.jsonl"
    p = convert(SHAPE_FILES[src], dst, there)
    converted = check_shape(there, dst)
    orig = original(src)
    assert len(converted) == 4, "one row per input dialogue (the row with no user message is not one)"
    assert [spoken(m) for _, m in converted] == [spoken(m) for _, m in orig]
    if src != "baize" and dst != "baize":
        assert [i for i, _ in converted] == IDS
    has_system = src in ("sharegpt", "messages")
    if has_system and dst in ("sharegpt", "messages"):
        assert converted[0][1][0] == ("system", SYSTEM), "the system message is kept"
    if has_system and dst in ("ultrachat", "baize"):
        assert re.search(r"\b1 system messages? left out", p.stderr), \
            f"expected a count of 1 dropped system message on stderr, got: {p.stderr!r}"

    convert(there, src, back)
    returned = check_shape(back, src)
    assert [spoken(m) for _, m in returned] == [spoken(m) for _, m in orig]
    if src != "baize" and dst != "baize":
        assert [i for i, _ in returned] == IDS


def test_default_output_is_stdout_and_from_forces_the_shape(tmp_path):
    p = convert(SHAPE_FILES["messages"], "ultrachat")
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    assert [r["id"] for r in rows] == IDS
    assert rows[1]["data"] == ["Name three primary colours.", "Red, yellow and blue."]
    assert rows[2]["data"][-1] == "Which one should I watch first?" and len(rows[2]["data"]) == 7
    # A file with both keys: --from decides which conversation is converted.
    both = tmp_path / "both.jsonl"
    both.write_text(json.dumps({"id": "b", "conversations": [{"from": "human", "value": "From conversations."}],
                                "messages": [{"role": "user", "content": "From messages."}]}) + "\n")
    a = json.loads(convert(both, "ultrachat", None, "--from", "sharegpt").stdout)
    b = json.loads(convert(both, "ultrachat", None, "--from", "messages").stdout)
    assert a["id"] == "b" and a["data"] == ["From conversations."]
    assert b["id"] == "b" and b["data"] == ["From messages."]


def test_stats_agree_on_every_converted_file(tmp_path):
    files = []
    for src in SHAPES:
        for dst in SHAPES:
            out = tmp_path / f"{src}-to-{dst}.jsonl"
            convert(SHAPE_FILES[src], dst, out)
            files.append((dst, out))
    doc = stats_json(*(f for _, f in files), *SHAPE_FILES.values())
    ds = doc["datasets"]
    assert [d["shape"] for d in ds] == [s for s, _ in files] + SHAPES
    reference = without_identity(ds[-4], "skipped")
    assert reference["dialogues"] == 4
    for d, (_, f) in zip(ds, files):
        assert d["skipped"] == 0, f.name
        assert without_identity(d, "skipped") == reference, f"stats of {f.name} differ from the original's"


# ---------------------------------------------------------------------------------------
# export --format asker-sft

def swapped_expected(msgs, system, opening):
    conv = [{"from": "system", "value": system}, {"from": "human", "value": opening}]
    for role, text in spoken(msgs):
        conv.append({"from": "gpt" if role == "user" else "human", "value": text})
    while conv[-1]["from"] == "human":    # a trailing original assistant reply is dropped
        conv.pop()
    return conv


def export(src, out, *extra):
    p = parley("export", "--format", "asker-sft", src, "--out", out, *extra)
    assert p.returncode == 0, f"parley export exited {p.returncode}: {p.stderr}"
    return read_jsonl(out / "asker_swapped.jsonl"), read_jsonl(out / "asker_messages.jsonl")


@pytest.mark.parametrize("src", SHAPES)
def test_asker_sft_export(tmp_path, src):
    system, opening = "You are the user. Ask what you want to know.", "Hello! What would you like to ask?"
    swapped, messages = export(SHAPE_FILES[src], tmp_path / "out", "--system", system, "--opening", opening)
    orig = original(src)
    assert len(swapped) == len(messages) == 4
    if src != "baize":
        assert [r["id"] for r in swapped] == [r["id"] for r in messages] == IDS
    for row, (_, msgs) in zip(swapped, orig):
        assert row["conversations"] == swapped_expected(msgs, system, opening)
    # Hand-checked: d2 is one exchange, so its asker row is the opening and the question only.
    assert swapped[1]["conversations"][1:] == [{"from": "human", "value": opening},
                                               {"from": "gpt", "value": "Name three primary colours."}]
    # d3 ends on a user turn: it is the last gpt message, nothing dropped.
    assert swapped[2]["conversations"][-1] == {"from": "gpt", "value": "Which one should I watch first?"}
    assert len(swapped[2]["conversations"]) == 2 + 7

    for row, (_, msgs) in zip(messages, orig):
        got = row["messages"]
        assert all(set(m) == {"role", "content", "training"} for m in got), got
        assert all(m["training"] is (m["role"] == "user") for m in got), got
        assert [(m["role"], m["content"]) for m in got if m["role"] != "system"] == spoken(msgs)
        assert [m["content"] for m in got if m["role"] == "system"] == [t for r, t in msgs if r == "system"]


def test_asker_sft_defaults(tmp_path):
    swapped, _ = export(SHAPE_FILES["sharegpt"], tmp_path / "out")
    orig = original("sharegpt")
    for row, (_, msgs) in zip(swapped, orig):
        conv = row["conversations"]
        assert conv[0]["from"] == "system" and conv[1]["from"] == "human"
        assert isinstance(conv[0]["value"], str) and isinstance(conv[1]["value"], str)
        assert conv[2:] == swapped_expected(msgs, "", "")[2:]


def test_asker_sft_loads_with_hugging_face_datasets(tmp_path):
    try:
        import datasets
    except ImportError:
        datasets = None
    need(datasets is not None, "the `datasets` package is not installed")
    out = tmp_path / "out"
    export(SHAPE_FILES["sharegpt"], out, "--system", "Play the user.", "--opening", "Hi!")
    s = datasets.load_dataset("json", data_files=str(out / "asker_swapped.jsonl"), split="train")
    assert len(s) == 4 and s[0]["id"] == "d1"
    assert [m["from"] for m in s[0]["conversations"]] == ["system", "human"] + ["gpt", "human"] * 3 + ["gpt"]
    assert s[0]["conversations"][2]["value"] == "How do I boil an egg?"
    m = datasets.load_dataset("json", data_files=str(out / "asker_messages.jsonl"), split="train")
    assert len(m) == 4 and m[3]["id"] == "d4"
    assert [x["training"] for x in m[3]["messages"]] == [True, False, True, False]
    assert type(m[3]["messages"][0]["training"]) is bool
