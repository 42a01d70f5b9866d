#!/usr/bin/env python3
"""A Python function plays the assistant: Parley runs the dialogues (the asker is the
deterministic scripted backend here) and calls `assistant` from its own threads,
several at once. Usage: python3 examples/python/callback.py [RUN_DIR]"""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, Dict

ROOT = Path(__file__).resolve().parents[2]
try:
    import parley
except ImportError:  # not pip-installed: use the repository's bindings
    sys.path.insert(0, str(ROOT / "bindings/python"))
    import parley

CONFIG: Dict[str, Any] = {
    "backends": {
        "scripted": {"type": "scripted", "words": [5, 12]},
        "mine": {"type": "host", "max_concurrency": 8},  # served by `assistant` below
    },
    "roles": {
        "asker": {"backend": "scripted", "endpoint": "completion", "max_tokens": 48},
        "assistant": {"backend": "mine", "system_prompt": "You are a terse assistant.", "max_tokens": 128},
    },
    "turns": {"max": 3},
    "run": {"seed": 1, "concurrency": 8},
    "output": {"formats": ["sharegpt", "messages"]},
}

calls = 0
lock = threading.Lock()  # callbacks run concurrently


def assistant(request: Dict[str, Any]) -> Dict[str, Any]:
    """Stands in for a real model: answers the last user message."""
    global calls
    with lock:
        calls += 1
    words = request["messages"][-1]["content"].split()
    text = f"You asked {len(words)} words, starting with {words[0]!r}." if words else "Ask me anything."
    prompt_words = sum(len(m["content"].split()) for m in request["messages"])
    return {"text": text, "finish_reason": "stop", "prompt_tokens": prompt_words, "completion_tokens": len(text.split())}


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs/python-callback"
    with parley.Engine(CONFIG) as engine:
        engine.set_callback("mine", assistant)
        result = engine.run({"seeds_file": str(ROOT / "examples/seeds/demo.jsonl"), "out": str(out), "fresh": True})
    summary = result["summary"]
    print(f"callback.py: {summary['finished']} dialogues, {summary['turns']} turns, {calls} assistant calls -> {result['out']}")
    first = result["dialogues"][0]["conversations"]
    for entry in first[:4]:
        print(f"  {entry['from']:>6}: {entry['value'][:70]}")
    return 0 if summary["finished"] > 0 and summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
