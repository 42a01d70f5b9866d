#!/usr/bin/env python3
"""Per-request cost of Python host backends through the bindings: the callback path and
the pull path (batches of 1, 64, 512), against the same run on the scripted backend
(no Python in the loop). The model returns a constant string at once, so what is left is
Parley + ctypes + JSON + the GIL. Prints medians of the repetitions: wall time per request,
and CPU time per request (all threads), which on a small machine is the fairer figure.
Usage: python3 benchmarks/python_host.py [--dialogues 2000] [--reps 3]"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
try:
    import parley
except ImportError:  # not pip-installed: use the repository's bindings
    sys.path.insert(0, str(ROOT / "bindings/python"))
    import parley


def config(backend: Dict[str, Any], concurrency: int) -> Dict[str, Any]:
    # Question seeds and turns.max 1: exactly one assistant request per dialogue.
    return {
        "backends": {"m": backend},
        "roles": {"asker": {"backend": "m", "endpoint": "completion", "max_tokens": 16},
                  "assistant": {"backend": "m", "max_tokens": 16}},
        "turns": {"max": 1},
        "run": {"seed": 1, "concurrency": concurrency},
    }


def timed_run(cfg: Dict[str, Any], seeds: List[Dict[str, str]],
              serve: Optional[Callable[[parley.Engine], Optional[Callable[[parley.Job], None]]]] = None) -> Tuple[float, float]:
    """Wall and CPU seconds (all threads: Python and Parley's) from job start to its end."""
    with parley.Engine(cfg) as engine, tempfile.TemporaryDirectory() as out:
        loop = serve(engine) if serve else None  # pull: the main thread serves the queue
        t0, c0 = time.perf_counter(), time.process_time()
        with engine.start(seeds, out=out) as job:
            if loop:
                loop(job)
            summary = job.wait()["summary"]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert summary["finished"] == len(seeds), summary
    return wall, cpu


def callback(engine: parley.Engine) -> None:
    engine.set_callback("m", lambda request: "ok")  # nothing to loop over: Parley calls it


batch_sizes: List[int] = []  # of the last pull mode run, to show the batches really taken


def pull(batch: int) -> Callable[[parley.Engine], Callable[[parley.Job], None]]:
    def setup(engine: parley.Engine) -> Callable[[parley.Job], None]:
        queue = engine.pull("m")

        def loop(job: parley.Job) -> None:
            for requests in queue.batches(max=batch, timeout=0.05, until=job):
                queue.submit([{"ticket": r["ticket"], "text": "ok"} for r in requests])
                batch_sizes.append(len(requests))
        return loop
    return setup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dialogues", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=512, help="run.concurrency and the backend's max_concurrency")
    args = ap.parse_args()
    n, c = args.dialogues, args.concurrency
    seeds = [{"id": f"d{i}", "question": f"Question {i}?"} for i in range(n)]
    host = {"type": "host", "max_concurrency": c}
    modes: List[tuple] = [
        ("scripted (no Python)", config({"type": "scripted", "words": [1, 1], "max_concurrency": c}, c), None),
        ("callback", config(host, c), callback),
        ("callback, inline", config({**host, "blocking": False}, c), callback),
        ("pull, batches of 1", config(host, c), pull(1)),
        ("pull, batches of 64", config(host, c), pull(64)),
        ("pull, batches of 512", config(host, c), pull(512)),
    ]
    print(f"libparley {parley.version()}, {n} dialogues x 1 request, concurrency {c}, median of {args.reps}")
    base = None
    for name, cfg, serve in modes:
        batch_sizes.clear()
        runs = [timed_run(cfg, seeds, serve) for _ in range(args.reps)]
        walls = [w for w, _ in runs]
        us = statistics.median(walls) / n * 1e6
        cpu_us = statistics.median(c for _, c in runs) / n * 1e6
        base = us if base is None else base
        extra = "" if us is base else f"  (+{us - base:6.1f} over scripted)"
        mean = f", mean batch {statistics.mean(batch_sizes):.0f}" if batch_sizes else ""
        print(f"  {name:<22} {us:6.1f} µs/request{extra:<25} CPU {cpu_us:6.1f} µs/request   "
              f"runs: {', '.join(f'{w:.3f}s' for w in walls)}{mean}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
