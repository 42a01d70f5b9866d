"""The bindings give the CLI's dialogues for the same scripted config and seeds."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import pytest

import parley
from conftest import BIN, ROOT, read_jsonl

CONFIG = ROOT / "examples/configs/scripted.json"
SEEDS = ROOT / "examples/seeds/mixed.jsonl"


def key(rows: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    # Everything but meta, whose generation records hold wall-clock latencies.
    return {r["id"]: (r["conversations"], r["end_reason"], r["turns"]) for r in rows}


@pytest.fixture(scope="module")
def cli_rows(tmp_path_factory: pytest.TempPathFactory) -> List[Dict[str, Any]]:
    if not BIN.exists():
        pytest.fail(f"{BIN} not found (set PARLEY_BIN)")
    out = tmp_path_factory.mktemp("cli") / "run"
    p = subprocess.run([str(BIN), "synth", "--config", str(CONFIG), "--seeds", str(SEEDS), "--out", str(out), "--quiet"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = read_jsonl(out / "dialogues.jsonl")
    assert len(rows) >= 6
    return rows


def test_seeds_file_gives_the_cli_rows(cli_rows: List[Dict[str, Any]], tmp_path: Path) -> None:
    with parley.Engine(CONFIG) as engine:
        rows = engine.synthesize(SEEDS, out=tmp_path / "run")
    assert key(rows) == key(cli_rows)
    assert key(read_jsonl(tmp_path / "run/dialogues.jsonl")) == key(cli_rows)


def test_in_memory_seeds_give_the_cli_rows(cli_rows: List[Dict[str, Any]], tmp_path: Path) -> None:
    seeds = [json.loads(line) for line in SEEDS.read_text().splitlines()]
    with parley.Engine(CONFIG.read_text()) as engine:
        rows = engine.synthesize(seeds, out=tmp_path / "run")
    assert key(rows) == key(cli_rows)


def test_resume_does_not_redo_finished_dialogues(cli_rows: List[Dict[str, Any]], tmp_path: Path) -> None:
    with parley.Engine(CONFIG) as engine:
        engine.synthesize(SEEDS, out=tmp_path / "run")
        again = engine.run({"seeds_file": str(SEEDS), "out": str(tmp_path / "run")})
    assert key(read_jsonl(tmp_path / "run/dialogues.jsonl")) == key(cli_rows)  # nothing written twice
    assert again["summary"]["finished"] == len(cli_rows)
