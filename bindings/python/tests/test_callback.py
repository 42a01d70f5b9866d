"""Host backends served by a Python callback: concurrency, request shape, answers, exceptions."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

import parley
from conftest import host_config, questions, read_jsonl


class Recorder:
    """A callback that sleeps like a model and records its requests and peak concurrency."""

    def __init__(self, sleep: float = 0.0) -> None:
        self.sleep = sleep
        self.lock = threading.Lock()
        self.requests: List[Dict[str, Any]] = []
        self.running = self.peak = 0

    def __call__(self, request: Dict[str, Any]) -> str:
        with self.lock:
            self.requests.append(request)
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.sleep)
        with self.lock:
            self.running -= 1
        return f"Answer to {request['dialogue_id']}."


def test_callbacks_run_concurrently(tmp_path: Path) -> None:
    model = Recorder(sleep=0.05)
    with parley.Engine(host_config(concurrency=16)) as engine:
        engine.set_callback("host", model)
        t0 = time.perf_counter()
        rows = engine.synthesize(questions(16), out=tmp_path / "run")
        wall = time.perf_counter() - t0
    assert len(model.requests) == 16 and {r["role"] for r in model.requests} == {"assistant"}
    assert len(rows) == 16
    assert wall < 0.5, f"16 x 50 ms callbacks took {wall:.3f} s (peak {model.peak} at once)"
    assert model.peak > 4


def test_thread_local_state_lasts_between_calls(tmp_path: Path) -> None:
    # ctypes drops a foreign thread's Python state after each call unless the bindings keep it:
    # then a per-thread client (an HTTP session in threading.local) would be made anew every call.
    local = threading.local()
    calls_before: List[int] = []

    def model(request: Dict[str, Any]) -> str:
        calls_before.append(getattr(local, "calls", 0))
        local.calls = getattr(local, "calls", 0) + 1
        return f"Answer to {request['dialogue_id']}."

    with parley.Engine(host_config(concurrency=4)) as engine:
        engine.set_callback("host", model)
        rows = engine.synthesize(questions(40), out=tmp_path / "run")
    assert len(rows) == 40 and len(calls_before) == 40
    assert max(calls_before) > 0, "every call found its thread's locals empty"


def test_request_shape(tmp_path: Path) -> None:
    model = Recorder()
    with parley.Engine(host_config(turns=2)) as engine:
        engine.set_callback("host", model)
        rows = engine.synthesize(questions(2), out=tmp_path / "run")
    assert len(rows) == 2
    common = {"ticket", "dialogue_id", "turn", "role", "attempt", "model", "max_tokens", "temperature", "top_p", "stop", "seed"}
    for r in model.requests:
        assert common <= set(r), set(r)
        assert r["attempt"] == 1 and isinstance(r["stop"], list)  # 1: the first try
    chat = [r for r in model.requests if r["role"] == "assistant"]
    completion = [r for r in model.requests if r["role"] == "asker"]
    assert len(chat) == 4 and len(completion) == 2
    assert all(isinstance(r["messages"], list) and r["messages"][0] == {"role": "system", "content": "Be brief."} for r in chat)
    assert all(isinstance(r["prompt"], str) and "Question number" in r["prompt"] for r in completion)
    assert all(r["max_tokens"] == 64 for r in chat) and all(r["max_tokens"] == 32 for r in completion)


def test_dict_answers_carry_finish_reason_and_usage(tmp_path: Path) -> None:
    def model(request: Dict[str, Any]) -> Dict[str, Any]:
        return {"text": "Short.", "finish_reason": "length", "prompt_tokens": 7, "completion_tokens": 3}

    with parley.Engine(host_config()) as engine:
        engine.set_callback("host", model)
        result = engine.run({"seeds": questions(3), "out": str(tmp_path / "run")})
    assert result["summary"]["prompt_tokens"] == 21 and result["summary"]["completion_tokens"] == 9
    for row in result["dialogues"]:
        assert row["conversations"][-1] == {"from": "gpt", "value": "Short."}
        gen = row["meta"]["generation"][-1]
        assert (gen["finish_reason"], gen["prompt_tokens"], gen["completion_tokens"]) == ("length", 7, 3)


def test_callback_may_call_back_into_the_library(tmp_path: Path) -> None:
    def model(request: Dict[str, Any]) -> str:
        parley.validate(host_config())  # re-entry from a Parley thread
        return parley.version()

    with parley.Engine(host_config()) as engine:
        engine.set_callback("host", model)
        rows = engine.synthesize(questions(4), out=tmp_path / "run")
    assert [r["conversations"][-1]["value"] for r in rows] == ["0.1.0"] * 4


def exploding(request: Dict[str, Any]) -> str:
    if request["dialogue_id"] == "q3":
        raise ValueError("model exploded")
    return "Fine."


def test_exception_is_reraised_and_recorded(tmp_path: Path) -> None:
    calls: List[str] = []

    def model(request: Dict[str, Any]) -> str:
        calls.append(request["dialogue_id"])
        return exploding(request)

    with parley.Engine(host_config()) as engine:
        engine.set_callback("host", model)
        with pytest.raises(ValueError, match="model exploded"):
            engine.synthesize(questions(6), out=tmp_path / "run")
    assert calls.count("q3") == 1  # retryable false: not tried again
    failures = read_jsonl(tmp_path / "run/failures.jsonl")
    assert [f["id"] for f in failures] == ["q3"]
    assert "ValueError: model exploded" in failures[0]["reason"]
    assert len(read_jsonl(tmp_path / "run/dialogues.jsonl")) == 5


def test_exception_is_reraised_by_run_and_wait(tmp_path: Path) -> None:
    with parley.Engine(host_config()) as engine:
        engine.set_callback("host", exploding)
        with pytest.raises(ValueError, match="model exploded"):
            engine.run({"seeds": questions(4), "out": str(tmp_path / "a")})
        with engine.start(questions(4), out=tmp_path / "b") as job:
            with pytest.raises(ValueError, match="model exploded"):
                job.wait()
            assert job.wait()["summary"]["failed"] == 1  # raised once, then the result
        # A later job without failures does not re-raise an old exception.
        assert len(engine.synthesize(questions(2), out=tmp_path / "c")) == 2


def test_bad_answer_type_is_an_error(tmp_path: Path) -> None:
    with parley.Engine(host_config()) as engine:
        engine.set_callback("host", lambda request: 42)  # type: ignore[arg-type,return-value]
        with pytest.raises(TypeError, match="str or a dict"):
            engine.synthesize(questions(1), out=tmp_path / "run")
