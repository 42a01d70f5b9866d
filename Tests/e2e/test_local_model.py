"""Parley against the real local llama.cpp server and the small Gemma model, with a
deliberately small context: 4 slots of 512 tokens, dialogues of 8 turns."""
import json, os, re, subprocess
from pathlib import Path

import pytest
from conftest import ROOT, need, parley, read_jsonl

SCRIPT = ROOT / "scripts/local-model"
SLOT = 512


@pytest.fixture(scope="module")
def llama_server():
    installed = (ROOT / ".local-model/llama-bin/llama-server").exists() and (ROOT / ".local-model/gemma-3-270m-q4_k_m.gguf").exists()
    need(installed, "the local model is not installed (scripts/local-model install)")
    out = subprocess.run([SCRIPT, "start", "--ctx", str(4 * SLOT), "--parallel", "4"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in out.stdout.split())
    yield env["LOCAL_MODEL_URL"]
    subprocess.run([SCRIPT, "stop", env["LOCAL_MODEL_PID"]], timeout=60)


@pytest.mark.parametrize("assistant_endpoint", ["completion", "chat"])
def test_eight_turn_dialogues_never_overflow_a_small_slot(tmp_path, llama_server, assistant_endpoint):
    """Completion: the template's parts are counted; chat: the server's chat template,
    measured through /apply-template."""
    run = tmp_path / "run"
    p = parley("synth", "--config", "examples/configs/local.json", "--out", run, "--quiet",
               "--set", f"backends.local.base_url={llama_server}/v1",
               "--set", "turns.max=8", "--set", f"roles.asker.max_context={SLOT}", "--set", f"roles.assistant.max_context={SLOT}",
               "--set", f"roles.assistant.endpoint={assistant_endpoint}",
               # The small model repeats itself; keep going so the windows really fill up.
               "--set", "turns.stop_on_repeat=false",
               timeout=1200)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    seeds = len([l for l in (ROOT / "examples/seeds/demo.jsonl").read_text().splitlines() if l.strip()])
    assert summary["failed"] == 0, (run / "failures.jsonl").read_text()
    assert summary["finished"] + summary["filtered"] == seeds
    assert set(summary["end_reasons"]) <= {"max_turns", "context_exhausted"}, summary["end_reasons"]
    assert summary["prompt_tokens"] > 0 and summary["completion_tokens"] > 0

    config = json.loads((ROOT / "examples/configs/local.json").read_text())
    rows = read_jsonl(run / "dialogues.jsonl")
    assert rows and all(r["end_reason"] in ("max_turns", "context_exhausted") for r in rows)
    longest = max(r["turns"] for r in rows)
    assert longest >= 2
    generated = [g for r in rows for g in r["meta"]["generation"] if g["role"]]
    for g in generated:
        # The server's own count of every prompt, plus what the role may generate, fits the slot.
        limit = config["roles"][g["role"]]["max_tokens"]
        assert g["prompt_tokens"] + limit <= SLOT, g
        assert g["model"] and g["finish_reason"] in ("stop", "length")
    print(f"\n{len(rows)} dialogues, {summary['turns']} turns, end reasons {summary['end_reasons']}, "
          f"max prompt {max(g['prompt_tokens'] for g in generated)} tokens of {SLOT}")

    # `parley stats` on the real model's output: the figures agree with the Python reference
    # implementation of Tests/e2e/test_stats.py, and the HTML report renders with its charts.
    from test_stats import assert_matches, dialogues_of, reference_stats, render
    p = parley("stats", run / "dialogues.jsonl", "--json", "--quiet", "--out", run / "stats")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)["datasets"][0]
    dialogues, skipped = dialogues_of(run / "dialogues.jsonl", "sharegpt")
    assert d["shape"] == "sharegpt" and d["dialogues"] == len(rows) == len(dialogues) and d["skipped"] == skipped == 0
    if not re.search(r"[\u3040-\u30ff\u3400-\u9fff]", (run / "dialogues.jsonl").read_text()):
        assert_matches(d, reference_stats(dialogues), "real run")  # the reference does not split CJK ideographs
    assert 0 <= d["context_dependent"]["share"] <= 1 and d["topic_shifts"]["per_dialogue"] >= 0
    dom, console = render(run / "stats/stats.html", tmp_path)
    assert console == [] and dom.count("<svg") >= 3, console
