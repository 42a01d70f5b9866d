"""Background jobs: progress, timeouts, cancellation from another thread, resume, events."""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import pytest

import parley
from conftest import fits, host_config, questions, read_jsonl, scripted_config

# ~1.5 s of work: 120 dialogues x 5 generated messages x 20 ms, 8 at a time.
SLOW = scripted_config(backends={"fake": {"type": "scripted", "words": [4, 12], "latency_ms": 20}},
                       turns={"max": 3}, run={"seed": 2, "concurrency": 8})


def rows_key(rows: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    return {r["id"]: r["conversations"] for r in rows}


def test_progress_and_wait_timeout(tmp_path: Path) -> None:
    with parley.Engine(SLOW) as engine, engine.start(questions(40), out=tmp_path / "run") as job:
        progress = job.progress
        assert progress["state"] == "running" and progress["seeds"] in (0, 40)
        assert {"ended", "failed", "messages", "tokens", "in_flight"} <= set(progress)
        with pytest.raises(parley.ParleyTimeout):
            job.wait(timeout=0.01)
        result = job.wait()
        assert job.progress["state"] == "done" and job.progress["ended"] == 40
        job.cancel()  # a finished job: nothing happens
        assert job.wait() is result


def test_cancel_from_another_thread_then_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with parley.Engine(SLOW) as engine:
        with engine.start(questions(120), out=out) as job:
            threading.Timer(0.3, job.cancel).start()
            with pytest.raises(parley.Cancelled) as e:
                job.wait()
            assert e.value.status == 7 and job.progress["state"] == "cancelled"
        partial = e.value.result
        assert partial is not None and partial["summary"]["finished"] < 120
        done_before = len(read_jsonl(out / "dialogues.jsonl"))
        assert done_before < 120

        rows = engine.synthesize(questions(120), out=out)  # resumes
        assert len(read_jsonl(out / "dialogues.jsonl")) == 120
        reference = engine.synthesize(questions(120), out=tmp_path / "uninterrupted")
    assert rows_key(read_jsonl(out / "dialogues.jsonl")) == rows_key(reference)
    assert len(rows) >= 120 - done_before


def test_closing_a_running_job_cancels_it(tmp_path: Path) -> None:
    with parley.Engine(SLOW) as engine:
        job = engine.start(questions(120), out=tmp_path / "run")
        time.sleep(0.2)
        t0 = time.perf_counter()
        job.close()
        assert time.perf_counter() - t0 < 1.5
        assert len(engine.synthesize(questions(120), out=tmp_path / "run")) > 0
    assert len(read_jsonl(tmp_path / "run/dialogues.jsonl")) == 120


def test_events(tmp_path: Path) -> None:
    with parley.Engine(scripted_config()) as engine, engine.start(questions(10), out=tmp_path / "run") as job:
        events: List[Mapping[str, Any]] = list(job.events(timeout=30))
        summary = job.wait()["summary"]
    assert events[-1] == {"event": "job_ended", "state": "done"}
    assert sum(e["event"] == "job_ended" for e in events) == 1
    kinds: Dict[str, List[str]] = defaultdict(list)
    for e in events[:-1]:
        kinds[e["id"]].append(e["event"])
    assert set(kinds) == {f"q{i}" for i in range(10)}
    for seq in kinds.values():
        assert seq[0] == "dialogue_started" and seq[-1] == "dialogue_ended"
        assert seq.count("dialogue_started") == seq.count("dialogue_ended") == 1
    messages = [e for e in events if e["event"] == "message"]
    assert len(messages) == summary["generated_messages"]
    assert all(e["status"] for e in events if e["event"] == "dialogue_ended")
    assert list(job.events(timeout=0)) == []  # nothing after job_ended


def test_dropping_engine_and_job_unclosed_is_safe(tmp_path: Path) -> None:
    """C keeps calling the callback after the Python objects are gone: it must stay alive."""
    def model(request: Dict[str, Any]) -> str:
        time.sleep(0.01)
        return "still here"

    engine = parley.Engine(host_config(concurrency=4))
    engine.set_callback("host", model)
    engine.start(questions(40), out=tmp_path / "run")  # the Job is dropped at once
    del engine
    gc.collect()
    deadline = time.monotonic() + 20
    while len(read_jsonl(tmp_path / "run/dialogues.jsonl")) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    rows = read_jsonl(tmp_path / "run/dialogues.jsonl")
    assert len(rows) == 40 and all(r["conversations"][-1]["value"] == "still here" for r in rows)


CTRL_C = """
import json, os, signal, sys, threading
import parley
config, out = json.loads(sys.argv[1]), sys.argv[2]
# Ctrl-C raises KeyboardInterrupt even where the parent ignored SIGINT (a background job).
signal.signal(signal.SIGINT, signal.default_int_handler)
with parley.Engine(config) as engine:  # the library is loaded before the timer starts
    threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
        engine.synthesize([{"id": f"q{i}", "question": "?"} for i in range(120)], out=out)
    except KeyboardInterrupt:
        sys.exit(130)
"""


def test_ctrl_c_cancels_synthesize_and_leaves_it_resumable(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(parley.__file__).parents[1]))
    p = subprocess.run([sys.executable, "-c", CTRL_C, json.dumps(SLOW), str(tmp_path / "run")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 130, p.stderr
    assert len(read_jsonl(tmp_path / "run/dialogues.jsonl")) < 120
    with parley.Engine(SLOW) as engine:
        engine.synthesize(questions(120), out=tmp_path / "run")
    assert len(read_jsonl(tmp_path / "run/dialogues.jsonl")) == 120


def test_live_metrics_from_the_config(tmp_path: Path) -> None:
    """run.metrics serves the job's metrics while it runs; a "metrics" event says where; at the
    end metrics.prom holds the counts summary.json holds."""
    prometheus = pytest.importorskip("prometheus_client.parser")

    def unlabeled(text: str) -> Dict[str, float]:
        families = prometheus.text_string_to_metric_families(text)
        return {s.name: s.value for f in families for s in f.samples if not s.labels}

    cfg = dict(SLOW, run={**SLOW["run"], "metrics": {"port": 0}})
    with parley.Engine(cfg) as engine, engine.start(questions(40), out=tmp_path / "run") as job:
        event = next(e for e in job.events(timeout=30) if e["event"] == "metrics")
        assert fits(event, parley.MetricsEvent) and event["url"].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(event["url"], timeout=5) as reply:
            assert unlabeled(reply.read().decode())["parley_seeds"] == 40
        summary = job.wait()["summary"]
    final = unlabeled((tmp_path / "run/metrics.prom").read_text())
    assert final["parley_turns_total"] == summary["turns"] > 0
    assert final["parley_generated_messages_total"] == summary["generated_messages"]
