"""Host backends served through the pull queue, from the main thread or a host thread."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

import parley
from conftest import host_config, questions, read_jsonl


def answers(batch: List[parley.GenerationRequest]) -> List[Dict[str, Any]]:
    return [{"ticket": r["ticket"], "text": f"Answer to {r['dialogue_id']}."} for r in batch]


def test_main_thread_serves_batches_while_a_job_runs(tmp_path: Path) -> None:
    sizes: List[int] = []
    with parley.Engine(host_config(concurrency=32, turns=2)) as engine:
        queue = engine.pull("host")
        with engine.start(questions(48), out=tmp_path / "run") as job:
            for batch in queue.batches(max=16, timeout=0.1, until=job):
                sizes.append(len(batch))
                time.sleep(0.01)  # the "model": meanwhile more requests queue up
                queue.submit(answers(batch))
            result = job.wait()
    assert result["summary"]["finished"] == 48
    assert sum(sizes) == 48 * 3  # per dialogue: assistant, asker, assistant
    assert max(sizes) > 1 and max(sizes) <= 16


def test_host_thread_serves_while_synthesize_blocks(tmp_path: Path) -> None:
    sizes: List[int] = []
    stop = threading.Event()
    with parley.Engine(host_config(concurrency=32)) as engine:
        queue = engine.pull("host")

        def serve() -> None:
            while not stop.is_set():
                batch = queue.take(max=64, timeout=0.05)
                if batch:
                    sizes.append(len(batch))
                    queue.submit(answers(batch))

        server = threading.Thread(target=serve)
        server.start()
        try:
            rows = engine.synthesize(questions(100), out=tmp_path / "run")
        finally:
            stop.set()
            server.join()
    assert len(rows) == 100 and sum(sizes) == 100 and max(sizes) > 1


def test_submit_checks_every_ticket_first(tmp_path: Path) -> None:
    with parley.Engine(host_config()) as engine:
        queue = engine.pull("host")
        with engine.start(questions(2), out=tmp_path / "run") as job:
            batch: List[parley.GenerationRequest] = []
            deadline = time.monotonic() + 10
            while len(batch) < 2 and time.monotonic() < deadline:
                batch += queue.take(max=2, timeout=0.5)
            assert len(batch) == 2
            first, second = answers(batch)
            with pytest.raises(parley.ArgumentError):
                queue.submit([{"ticket": 987654321, "text": "x"}])
            with pytest.raises(parley.ArgumentError):  # all or nothing: `first` is not delivered
                queue.submit([first, {"ticket": 987654321, "text": "x"}])
            queue.submit([first])
            with pytest.raises(parley.ArgumentError):  # already answered
                queue.submit([first])
            queue.submit([second])
            assert job.wait()["summary"]["finished"] == 2


def test_error_answers_fail_or_retry(tmp_path: Path) -> None:
    attempts: Dict[str, int] = {}
    cfg = host_config()
    cfg["backends"]["host"].update(max_retries=2, backoff_base_seconds=0.01, backoff_max_seconds=0.02)
    with parley.Engine(cfg) as engine:
        queue = engine.pull("host")
        with engine.start(questions(3), out=tmp_path / "run") as job:
            for batch in queue.batches(max=8, timeout=0.05, until=job):
                results = []
                for r in batch:
                    attempts[r["dialogue_id"]] = attempts.get(r["dialogue_id"], 0) + 1
                    if r["dialogue_id"] == "q0":
                        results.append({"ticket": r["ticket"], "error": "backend on fire"})
                    elif r["dialogue_id"] == "q1" and attempts["q1"] == 1:
                        results.append({"ticket": r["ticket"], "error": "busy", "retryable": True})
                    else:
                        results.append({"ticket": r["ticket"], "text": "ok"})
                queue.submit(results)
            summary = job.wait()["summary"]
    assert attempts == {"q0": 1, "q1": 2, "q2": 1}
    assert summary["finished"] == 2 and summary["failed"] == 1
    failures = read_jsonl(tmp_path / "run/failures.jsonl")
    assert [f["id"] for f in failures] == ["q0"] and "backend on fire" in failures[0]["reason"]


def test_take_times_out_with_an_empty_list() -> None:
    with parley.Engine(host_config()) as engine:
        queue = engine.pull("host")
        assert engine.pull("host") is queue
        t0 = time.perf_counter()
        assert queue.take(max=4, timeout=0.2) == []
        assert 0.15 < time.perf_counter() - t0 < 2
        assert queue.take(max=4, timeout=0) == []
