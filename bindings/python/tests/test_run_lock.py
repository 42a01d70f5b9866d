"""One owner per run directory, across the CLI and Python jobs: the second is refused when it
starts (StateError naming the directory and holder), and the first's output is undisturbed."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

import parley
from conftest import BIN, questions, read_jsonl, scripted_config

# ~2 s of work: 600 dialogues x 5 messages x 5 ms, 16 at a time.
SLOW = scripted_config(backends={"fake": {"type": "scripted", "words": [4, 8], "latency_ms": 5}},
                       turns={"max": 3}, run={"seed": 4, "concurrency": 16})


def ids(path: Path) -> list:
    rows = read_jsonl(path / "dialogues.jsonl")
    assert len({r["id"] for r in rows}) == len(rows), "a dialogue was written twice"
    return sorted(r["id"] for r in rows)


def test_two_jobs_of_one_engine_on_one_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with parley.Engine(SLOW) as engine, engine.start(questions(600), out=out) as first:
        with pytest.raises(parley.StateError) as e:
            engine.start(questions(600), out=out)
        assert str(out) in str(e.value) and "in use by another job of this process" in str(e.value)
        assert first.progress["state"] == "running"
        first.wait()
    assert ids(out) == sorted(q["id"] for q in questions(600))
    # Once the first has ended the directory is free again (a resume with nothing left to do).
    with parley.Engine(SLOW) as engine:
        engine.synthesize(questions(600), out=out)


def test_two_engines_on_one_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with parley.Engine(SLOW) as a, parley.Engine(SLOW) as b, a.start(questions(600), out=out) as first:
        with pytest.raises(parley.StateError):
            b.start(questions(600), out=out)
        first.wait()


def test_a_python_job_and_the_cli_on_one_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SLOW))
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(q) + "\n" for q in questions(600)))

    # The CLI holds it: the Python job is refused, naming the CLI's pid and host.
    cli = subprocess.Popen([str(BIN), "synth", "--config", config, "--seeds", seeds, "--out", out, "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (out / "journal.jsonl").exists():
        assert cli.poll() is None and time.monotonic() < deadline, cli.stderr.read() if cli.stderr else ""
        time.sleep(0.01)
    with parley.Engine(SLOW) as engine:
        with pytest.raises(parley.StateError) as e:
            engine.start(seeds, out=out)
        assert f"pid {cli.pid} on {socket.gethostname()}" in str(e.value), str(e.value)
    assert cli.wait(timeout=120) == 0, cli.stderr.read()
    assert ids(out) == sorted(q["id"] for q in questions(600))

    # A Python job holds it: the CLI is refused with exit 1 and the holder's pid.
    out2 = tmp_path / "run2"
    with parley.Engine(SLOW) as engine, engine.start(seeds, out=out2) as job:
        p = subprocess.run([str(BIN), "synth", "--config", config, "--seeds", seeds, "--out", out2, "--quiet"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and f"pid {os.getpid()}" in p.stderr, p.stderr
        job.wait()
    assert ids(out2) == sorted(q["id"] for q in questions(600))
