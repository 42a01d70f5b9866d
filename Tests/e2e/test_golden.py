"""Golden outputs: every shipped example config, its backends replaced by the deterministic
scripted backend, run through the real CLI; every file of the run directory must equal the
copy committed under Tests/golden/<config>/. This pins the outputs of every recipe byte for
byte, so a refactoring that changes no behaviour can prove it.

After a change that is meant to change outputs, write the files again and review the diff:
    PARLEY_UPDATE_GOLDEN=1 .venv/bin/python -m pytest Tests/e2e/test_golden.py
"""
import json, os
from pathlib import Path

import pytest
from conftest import ROOT, parley, write_json

GOLDEN = ROOT / "Tests/golden"
CONFIGS = sorted((ROOT / "examples/configs").glob("*.json"))
SCRIPTED = {"type": "scripted", "words": [4, 12]}
# Files that say when or where a run happened, not what it made.
SKIPPED = {"run.lock", "run.json", "journal.jsonl"}
# Measured, not made: masked wherever they appear.
MEASURED = {"latency_ms", "wall_seconds", "started", "finished_at", "turns_per_second", "tokens_per_second",
            "output_dir", "path", "seeds_path", "run"}


def scripted(config_path, tmp):
    """The example config with every backend scripted and one dialogue at a time (seed-line order)."""
    cfg = json.loads(config_path.read_text())
    cfg["backends"] = {name: dict(SCRIPTED) for name in cfg["backends"]}
    cfg.setdefault("run", {})["concurrency"] = 1
    cfg["run"].pop("progress_seconds", None)
    return write_json(Path(tmp) / config_path.name, cfg)


def masked(value):
    if isinstance(value, dict):
        return {k: "…" if k in MEASURED else masked_trace(v) if k == "limit_trace" else masked(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def masked_trace(trace):
    """A concurrency limit's trace, [[seconds, limit], …], without its times."""
    return [["…", limit] for _, limit in trace]


def comparable(path):
    """The file's text with measured fields masked: JSON lines and JSON files are re-encoded with
    the keys in the order written; other files (Markdown, HTML reports) are taken as they are."""
    text = path.read_text()
    if path.suffix == ".jsonl":
        return "".join(json.dumps(masked(json.loads(line)), ensure_ascii=False) + "\n" for line in text.splitlines())
    if path.suffix == ".json":
        return json.dumps(masked(json.loads(text)), indent=1, ensure_ascii=False) + "\n"
    return text


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_outputs_equal_the_golden_files(tmp_path, config):
    out = tmp_path / "run"
    verb = ["eval", "run"] if json.loads(config.read_text())["recipe"] == "eval" else ["synth"]
    p = parley(*verb, "--config", scripted(config, tmp_path), "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    made = {f.name: comparable(f) for f in sorted(out.iterdir()) if f.is_file() and f.name not in SKIPPED}
    assert "summary.json" in made and any(name.endswith(".jsonl") for name in made), sorted(made)
    golden = GOLDEN / config.stem
    if os.environ.get("PARLEY_UPDATE_GOLDEN") == "1":
        golden.mkdir(parents=True, exist_ok=True)
        for stale in golden.iterdir():
            stale.unlink()
        for name, text in made.items():
            (golden / name).write_text(text)
    kept = {f.name: f.read_text() for f in sorted(golden.iterdir())} if golden.exists() else {}
    assert sorted(made) == sorted(kept), f"files differ from {golden}"
    for name, text in made.items():
        assert text == kept[name], f"{config.name}: {name} differs from {golden / name}"
