"""The shipped presets (examples/presets): each validates as shipped, and runs end to end with
its backends swapped for the scripted one, showing the behaviour its paper names."""
import json

import pytest
from conftest import ROOT, parley, read_jsonl, write_json

PRESETS = sorted(p.stem for p in (ROOT / "examples/presets").glob("*.json"))


def test_every_system_has_a_preset():
    assert PRESETS == ["baize", "parrot", "platolm", "selftalk", "ultrachat"]


@pytest.mark.parametrize("name", PRESETS)
def test_preset_validates_and_runs_on_the_scripted_backend(tmp_path, name):
    path = f"examples/presets/{name}.json"
    p = parley("validate", "--config", path)
    assert p.returncode == 0, p.stderr
    config = json.loads((ROOT / path).read_text())
    config["backends"] = {b: {"type": "scripted"} for b in config["backends"]}
    write_json(tmp_path / "config.json", config)
    p = parley("synth", "--config", tmp_path / "config.json", "--out", tmp_path / "run", "--quiet",
               "--set", "run.limit=3", timeout=600)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0 and summary["finished"] + summary["filtered"] == 3, summary
    if name == "selftalk":
        return
    rows = read_jsonl(tmp_path / "run/dialogues.jsonl") + read_jsonl(tmp_path / "run/filtered.jsonl")
    exchanges = [sum(m["from"] == "human" for m in r["conversations"]) for r in rows]
    if name == "platolm":
        # No windowing: every dialogue runs until its 2048-token context is full.
        assert summary["end_reasons"] == {"context_exhausted": 3}, summary["end_reasons"]
        assert min(exchanges) > 8
    if name == "ultrachat":
        assert all(3 <= n <= 7 for n in exchanges), exchanges
    if name == "parrot":
        assert max(exchanges) <= 10
