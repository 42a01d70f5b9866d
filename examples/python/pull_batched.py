#!/usr/bin/env python3
"""The pull API feeding a batched model: the host takes whatever requests are waiting,
runs them through one `generate(prompts)` call (as vLLM's LLM.generate or a Hugging
Face pipeline would), and submits the answers. No Parley thread ever calls Python.
Usage: python3 examples/python/pull_batched.py [RUN_DIR]"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[2]
try:
    import parley
except ImportError:  # not pip-installed: use the repository's bindings
    sys.path.insert(0, str(ROOT / "bindings/python"))
    import parley

CONFIG: Dict[str, Any] = {
    "backends": {"batched": {"type": "host", "max_concurrency": 256}},
    "roles": {
        "asker": {"backend": "batched", "endpoint": "completion", "template": "human-assistant", "max_tokens": 48},
        "assistant": {"backend": "batched", "system_prompt": "You are a helpful assistant.", "max_tokens": 128},
    },
    "turns": {"max": 3},
    "run": {"seed": 1, "concurrency": 256},
}


def generate(prompts: List[str]) -> List[str]:
    """A stand-in for one batched forward pass: cost grows slowly with the batch."""
    time.sleep(0.002 + 0.00001 * len(prompts))
    return [f"Reply {len(p) % 97} to a {len(p)}-character prompt." for p in prompts]


def prompt_of(request: Dict[str, Any]) -> str:
    """Completion requests (the asker) carry a rendered prompt; chat requests messages."""
    if "prompt" in request:
        return request["prompt"]
    return "".join(f"<{m['role']}>{m['content']}\n" for m in request["messages"]) + "<assistant>"


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs/python-pull"
    seeds = [{"question": f"Tell me one fact about the number {i}."} for i in range(300)]
    sizes: List[int] = []
    with parley.Engine(CONFIG) as engine:
        queue = engine.pull("batched")
        with engine.start(seeds, out=out, fresh=True) as job:
            for batch in queue.batches(max=128, timeout=0.05, until=job):
                texts = generate([prompt_of(r) for r in batch])
                queue.submit([{"ticket": r["ticket"], "text": t} for r, t in zip(batch, texts)])
                sizes.append(len(batch))
            summary = job.wait()["summary"]
    print(f"pull_batched.py: {summary['finished']} dialogues, {sum(sizes)} requests in {len(sizes)} batches "
          f"(mean {sum(sizes) / max(1, len(sizes)):.1f}, max {max(sizes, default=0)}) -> {out}")
    return 0 if summary["finished"] == len(seeds) else 1


if __name__ == "__main__":
    sys.exit(main())
