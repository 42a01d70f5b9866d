"""The Python examples run as they are and exit 0."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, read_jsonl

EXAMPLES = ROOT / "examples/python"


def run_example(name: str, *args: str) -> str:
    p = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
    assert p.returncode == 0, f"{name} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def test_callback_example(tmp_path: Path) -> None:
    out = run_example("callback.py", str(tmp_path / "run"))
    assert out.startswith("callback.py: 6 dialogues")
    assert len(read_jsonl(tmp_path / "run/dialogues.jsonl")) == 6


def test_pull_batched_example(tmp_path: Path) -> None:
    out = run_example("pull_batched.py", str(tmp_path / "run"))
    assert out.startswith("pull_batched.py: 300 dialogues")
    assert len(read_jsonl(tmp_path / "run/dialogues.jsonl")) == 300


@pytest.mark.skipif(not os.environ.get("LOCAL_MODEL_URL"), reason="LOCAL_MODEL_URL not set")
def test_local_server_example() -> None:
    assert "local_server.py:" in run_example("local_server.py", os.environ["LOCAL_MODEL_URL"])
