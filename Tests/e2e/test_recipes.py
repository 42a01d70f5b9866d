"""The CaPO, ExpertPrompting and Self-talk recipes through the real CLI: SIGKILLed at
random moments and resumed with nothing lost or made twice, outputs equal to an
uninterrupted run, and CaPO's pairs loading as TRL's DPO trainer expects them."""
import json
from pathlib import Path

import pytest
from conftest import BIN, ROOT, journal_made_once, kill_until_done, need, parley, read_jsonl, write_json

SCRIPTED = {"type": "scripted", "words": [4, 12], "latency_ms": 25, "jitter_ms": 10}


def capo_dialogues(tmp, n=40):
    """Dialogues whose later user turns lean on the context (pronouns, ellipsis)."""
    rows = []
    for i in range(n):
        rows.append({"id": f"c{i}", "conversations": [
            {"from": "human", "value": f"Can you recommend a book about topic {i}?"},
            {"from": "gpt", "value": f"Try The Guide to Topic {i}, a classic."},
            {"from": "human", "value": f"What is the tallest mountain in region {i}?"},
            {"from": "gpt", "value": f"Mount {i}, at {1000 + i} metres."},
            {"from": "human", "value": "Is it long?"},
            {"from": "gpt", "value": f"The book has {200 + i} pages."},
            {"from": "human", "value": "What about the second one?"},
            {"from": "gpt", "value": "The mountain is hard to climb."}]})
    path = Path(tmp) / "dialogues.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def recipe_case(name, tmp):
    """(config, seeds, output files to compare) of each recipe on the scripted backend."""
    tmp = Path(tmp)
    if name == "capo":
        cfg = {"recipe": "capo", "backends": {"fake": SCRIPTED}, "run": {"concurrency": 4},
               "roles": {"assistant": {"backend": "fake", "max_tokens": 64}}, "capo": {"flat": True}}
        return write_json(tmp / "capo.json", cfg), capo_dialogues(tmp), ["pairs.jsonl", "pairs_flat.jsonl"]
    if name == "expert":
        cfg = {"recipe": "expert", "backends": {"fake": SCRIPTED}, "run": {"concurrency": 2},
               "roles": {"expert_writer": {"backend": "fake", "max_tokens": 64}, "assistant": {"backend": "fake", "max_tokens": 64}}}
        seeds = tmp / "instructions.jsonl"
        seeds.write_text("".join(json.dumps({"id": f"e{i}", "instruction": f"Explain idea number {i}."}) + "\n" for i in range(100)))
        return write_json(tmp / "expert.json", cfg), seeds, ["expert.jsonl"]
    cfg = json.loads((ROOT / "examples/configs/selftalk-local.json").read_text())
    cfg["backends"] = {"fake": SCRIPTED}
    cfg["run"] = {"seed": 3, "concurrency": 3}
    cfg["selftalk"]["filters"] = {"top_percent": 50}  # scripted agents reach no node: keep the run-level filter that selects
    for role in cfg["roles"].values():
        role["backend"] = "fake"
    seeds = tmp / "selftalk.jsonl"
    seeds.write_text("".join(json.dumps({"id": f"s{i}", "workflow": ["return", "appointment"][i % 2]}) + "\n" for i in range(12)))
    return write_json(tmp / "selftalk.json", cfg), seeds, ["selftalk_selected.jsonl"]


def rows_of(path):
    """The rows, sorted, without what differs between two runs by nature (latencies)."""
    rows = read_jsonl(path)
    for r in rows:
        for g in r.get("meta", {}).get("generation", []):
            g.pop("latency_ms", None)
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


@pytest.mark.parametrize("recipe", ["capo", "expert", "selftalk"])
def test_sigkill_mid_recipe_loses_and_repeats_nothing(tmp_path, recipe):
    cfg, seeds, files = recipe_case(recipe, tmp_path)
    ref = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "reference", "--quiet")
    assert ref.returncode == 0, ref.stderr
    kills = kill_until_done([BIN, "synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet"],
                            seed=11, window=(0.15, 0.5))
    assert kills >= 3, "the test must really interrupt the run"
    journal_made_once(tmp_path / "run")
    for f in ["dialogues.jsonl"] + files:
        assert rows_of(tmp_path / "run" / f) == rows_of(tmp_path / "reference" / f), f
        assert read_jsonl(tmp_path / "run" / f), f"{f} is empty"
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    expected = json.loads((tmp_path / "reference/summary.json").read_text())
    assert summary["records"] == expected["records"] and summary["failed"] == 0
    if recipe == "selftalk":
        assert summary["selftalk"] == expected["selftalk"] and summary["selftalk"]["dialogues"] == 12
        assert summary["selftalk"]["selected"] == 6 and summary["selftalk"]["removed_by"] == {"top_percent": 6}


def test_capo_pairs_load_as_trl_expects(tmp_path):
    need(__import__("importlib").util.find_spec("datasets") is not None, "Hugging Face datasets is not installed")
    from datasets import load_dataset
    cfg, seeds, _ = recipe_case("capo", tmp_path)
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    pairs = load_dataset("json", data_files=str(tmp_path / "run/pairs.jsonl"), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(pairs.column_names)
    # Two context-dependent turns per dialogue ("Is it long?", "What about the second one?"), three strategies each.
    assert summary["records"]["select"] == 80
    assert len(pairs) == summary["records"]["pair"] - summary["records"].get("pair_dropped", 0)
    row = pairs[0]
    assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
    assert row["prompt"][0] == {"role": "user", "content": row["prompt"][0]["content"]}
    assert set(pairs["strategy"]) == {"neglect", "hallucination", "misunderstanding"}
    flat = load_dataset("json", data_files=str(tmp_path / "run/pairs_flat.jsonl"), split="train")
    assert isinstance(flat[0]["prompt"], str) and isinstance(flat[0]["chosen"], str) and len(flat) == len(pairs)
