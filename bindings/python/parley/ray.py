"""One Parley run spread over a Ray cluster: one task per shard, merged at the end.

    import parley.ray
    summary = parley.ray.run("config.json", "/shared/seeds.jsonl", "/shared/runs/big", shards=16)

or `python -m parley.ray --config C --seeds S --out O --shards N [--address ray://host:10001]`.

Layout: shard K of N runs in `out/shard-K-of-N/` (its own run directory, journal
included); when every shard has finished, parley.merge() writes the merged files
(dialogues.jsonl, ..., summary.json) into `out/` itself. The merge puts rows in seed-line
order, so the result is the same whatever the number of shards or machines.

`out` (and a seeds path) must be on a filesystem that every node sees at the same path.
Per-node directories are not supported, by design: a task whose worker dies (SIGKILL, OOM,
a lost node) is retried by Ray, maybe on another node, and it resumes from its shard's
journal instead of starting over only if that journal is where the retried task runs.
For the same reason `fresh=True` is applied here, on the driver, before any task starts:
a task that deleted its directory would throw the journal away on every retry.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple, Union, cast

try:
    import ray
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("parley.ray needs Ray: pip install './bindings/python[ray]' (or pip install ray)") from e

from . import merge, validate
from .engine import Config, Engine, PathLike, Seeds, _job_spec, config_text
from .errors import ParleyTimeout
from .types import RayProgress, RayShardState, RunSummary

__all__ = ["ShardFailed", "main", "run", "shard_dir"]

REPORT_SECONDS = 0.5  # how often a task reports its progress
PRINT_SECONDS = 10.0  # how often a progress line is printed when stderr is not a terminal
RATE_WINDOW = 10.0  # seconds of history behind the turns/s figure

Snapshot = RayProgress  # what on_progress gets


class ShardFailed(RuntimeError):
    """A shard's task failed for a reason Ray does not retry (a config or state error, or
    an exception inside Parley), or ran out of retries. `cause` is the task's exception."""

    def __init__(self, shard: int, shards: int, cause: BaseException) -> None:
        super().__init__(f"shard {shard}/{shards} failed: {cause}")
        self.shard, self.shards, self.cause = shard, shards, cause


def shard_dir(out: PathLike, k: int, n: int) -> Path:
    """Where shard k of n runs: out/shard-K-of-N."""
    return Path(out) / f"shard-{k}-of-{n}"


@ray.remote(num_cpus=0, max_restarts=0)
class _Board:
    """Where the tasks report. It numbers each shard's attempts itself (Ray does not tell a
    task which retry it is) and keeps the latest report of each shard's latest attempt; a
    late report from a dead attempt is ignored."""

    def __init__(self) -> None:
        self._shards: Dict[int, Dict[str, Any]] = {}

    def begin(self, k: int, pid: int, node: str) -> int:
        previous = self._shards.get(k, {})
        attempt = int(previous.get("attempt", 0)) + 1
        # The last attempt's progress stays until the new one reports: the line does not dip.
        self._shards[k] = {"attempt": attempt, "pid": pid, "node": node, "progress": previous.get("progress", {})}
        return attempt

    def report(self, k: int, attempt: int, progress: Dict[str, Any]) -> None:
        shard = self._shards.get(k)
        if shard is not None and shard["attempt"] == attempt:
            shard["progress"] = progress

    def snapshot(self) -> Dict[int, Dict[str, Any]]:
        return self._shards


def _run_shard(config: str, seeds: Union[str, List[Any]], out: str, k: int, n: int, board: Any,
               report_seconds: float) -> RunSummary:
    """A Ray task: runs shard k of n in `out`, resuming what an earlier attempt journaled
    there, and reports its progress to `board`. Returns the shard's summary."""
    attempt = ray.get(board.begin.remote(k, os.getpid(), socket.gethostname()))
    spec = _job_spec(seeds, out, fresh=False, shard=(k, n))  # never fresh: see the module docstring
    spec["return"] = "summary"  # the rows stay in the shard's files; the driver merges those
    with Engine(config) as engine, engine.start_job(spec) as job:
        while True:
            board.report.remote(k, attempt, job.progress)
            try:
                result = job.wait(timeout=report_seconds)
                break
            except ParleyTimeout:
                pass
        ray.get(board.report.remote(k, attempt, job.progress))  # the final count, delivered before returning
    summary: RunSummary = result["summary"]
    return summary


_shard_task = ray.remote(_run_shard)


class _Meter:
    """Turns the board's reports into snapshots, and snapshots into one progress line."""

    def __init__(self, shards: int, on_progress: Optional[Callable[[Snapshot], None]]) -> None:
        self.shards = shards
        self.on_progress = on_progress
        self.began = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.printed = 0.0
        # Messages of attempts that died: a retry's job counts from 0 again.
        self.banked: Dict[int, int] = {}
        self.last: Dict[int, Tuple[int, int]] = {}  # shard: (attempt, messages)
        self.history: Deque[Tuple[float, int]] = deque()

    def snapshot(self, board: Dict[int, Dict[str, Any]], done: Set[int]) -> Snapshot:
        now = time.monotonic()
        per_shard: Dict[int, RayShardState] = {}
        for k, s in sorted(board.items()):
            messages = int(s["progress"].get("messages", 0))
            attempt, last = self.last.get(k, (s["attempt"], 0))
            if attempt != s["attempt"]:
                self.banked[k] = self.banked.get(k, 0) + last
            self.last[k] = (s["attempt"], messages)
            per_shard[k] = cast(RayShardState, {**s, "done": k in done})
        generated = sum(self.banked.values()) + sum(m for _, m in self.last.values())
        self.history.append((now, generated))
        while now - self.history[0][0] > RATE_WINDOW and len(self.history) > 2:
            self.history.popleft()
        (t0, m0) = self.history[0]
        # A turn is a message and its reply: turns/s = messages/s / 2 (judgments count too).
        rate = (generated - m0) / (now - t0) / 2 if now > t0 else 0.0

        def total(key: str) -> int:
            return sum(int(s["progress"].get(key, 0)) for s in board.values())

        # A job counts its seeds just after it starts: the total is known once every shard has.
        counted = len(board) == self.shards and all(
            s["progress"].get("seeds") or s["progress"].get("state", "running") != "running" for s in board.values())
        return {"shards": self.shards, "shards_done": len(done), "elapsed": now - self.began,
                "seeds": total("seeds"), "seeds_counted": counted, "ended": total("ended"), "failed": total("failed"),
                "resumed": total("resumed"), "in_flight": total("in_flight"), "tokens": total("tokens"),
                "messages": generated, "turns_per_second": rate,
                "retried": sum(1 for s in board.values() if s["attempt"] > 1), "per_shard": per_shard}

    def show(self, snap: Snapshot, final: bool = False) -> None:
        if self.on_progress is not None:
            self.on_progress(snap)
            return
        now = time.monotonic()
        if not (self.tty or final or now - self.printed >= PRINT_SECONDS):
            return
        self.printed = now
        minutes, seconds = divmod(int(snap["elapsed"]), 60)
        line = (f"parley.ray: {snap['ended']}/{snap['seeds'] if snap['seeds_counted'] else '?'} dialogues ended "
                f"({snap['failed']} failed), "
                f"{snap['turns_per_second']:.1f} turns/s, shards {snap['shards_done']}/{snap['shards']} done"
                + (f", {snap['retried']} retried" if snap["retried"] else "") + f", {minutes}:{seconds:02d}")
        if self.tty:
            sys.stderr.write("\r" + line + "\x1b[K" + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def run(config: Config, seeds: Seeds, out: PathLike, shards: int, *, fresh: bool = False,
        on_progress: Optional[Callable[[Snapshot], None]] = None, poll_seconds: float = 1.0,
        max_retries: int = 3, address: Optional[str] = None, **ray_options: Any) -> RunSummary:
    """Runs `config` on `seeds` as `shards` Ray tasks and merges them into `out`; returns the
    merged summary (summary.json plus "shards").

    - `seeds`: a seeds file path, which every node must see (each task reads it and keeps
      its own shard; the driver never loads it), or, for small sets, seed dicts / JSONL
      strings, put once in the object store and handed to every task.
    - `out`: a directory on a filesystem every node sees (see the module docstring); running
      again on it resumes every unfinished shard, unless `fresh`.
    - `on_progress(snapshot)`, called every `poll_seconds`, replaces the progress line on
      stderr; the snapshot has the totals and "per_shard" {k: {"attempt", "pid", "node",
      "done", "progress"}}.
    - `max_retries`: how often Ray reruns a shard whose worker died (system failures; an
      exception inside the task is not retried, it raises ShardFailed).
    - `ray_options`: passed to the task's `.options()` (num_cpus, resources, runtime_env,
      e.g. runtime_env={"env_vars": {"PARLEY_LIB": path}} where nodes keep libparley elsewhere).
    Ray is initialized (`ray.init(address=address)`) only if it is not already.
    """
    if not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards must be a positive int, not {shards!r}")
    text = config_text(config)
    validate(text)  # a bad config fails here, once, not in every task
    out = Path(out).absolute()  # paths are resolved on the driver: nodes share them, not its cwd
    dirs = [shard_dir(out, k, shards) for k in range(1, shards + 1)]
    if fresh:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    if not ray.is_initialized():
        ray.init(address=address)
    seeds_arg: Any = os.path.abspath(seeds) if isinstance(seeds, (str, os.PathLike)) else ray.put(list(seeds))
    board = _Board.remote()  # type: ignore[attr-defined]  # ray.remote makes an ActorClass
    task = _shard_task.options(**ray_options, max_retries=max_retries)
    refs = {task.remote(text, seeds_arg, str(d), k, shards, board, REPORT_SECONDS): k
            for k, d in enumerate(dirs, start=1)}
    meter = _Meter(shards, on_progress)
    pending, done = list(refs), set()
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=poll_seconds)
            for ref in ready:
                try:
                    ray.get(ref)
                except Exception as e:
                    raise ShardFailed(refs[ref], shards, e) from e
                done.add(refs[ref])
            meter.show(meter.snapshot(ray.get(board.snapshot.remote()), done), final=not pending)
    except BaseException:
        for ref in pending:  # their jobs are cancelled and stay resumable
            ray.cancel(ref)
        raise
    finally:
        ray.kill(board)
    return merge(dirs, out)


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m parley.ray`: prints the merged summary as JSON; exits 1 on failure."""
    p = argparse.ArgumentParser(prog="python -m parley.ray", description="Runs a Parley config as shards on Ray "
                                "and merges them into OUT (shards in OUT/shard-K-of-N/).")
    p.add_argument("--config", required=True, help="the config file")
    p.add_argument("--seeds", help="the seeds file, on a filesystem every node sees (default: the config's seeds)")
    p.add_argument("--out", required=True, help="the output directory, on a filesystem every node sees")
    p.add_argument("--shards", type=int, required=True, help="how many shards (Ray tasks)")
    p.add_argument("--address", help="the Ray cluster, e.g. ray://host:10001 (default: $RAY_ADDRESS or a local one)")
    p.add_argument("--fresh", action="store_true", help="discard earlier shard runs in OUT instead of resuming them")
    p.add_argument("--max-retries", type=int, default=3, help="reruns of a shard whose worker died (default 3)")
    p.add_argument("--num-cpus", type=float, help="CPUs each shard task reserves (Ray's default: 1)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    args = p.parse_args(argv)
    try:
        seeds = args.seeds or json.loads(Path(args.config).read_text(encoding="utf-8")).get("seeds")
        if not seeds:
            p.error("--seeds is required when the config names no seeds")
        options = {} if args.num_cpus is None else {"num_cpus": args.num_cpus}
        summary = run(args.config, seeds, args.out, args.shards, fresh=args.fresh, max_retries=args.max_retries,
                      address=args.address, on_progress=(lambda _: None) if args.quiet else None, **options)
    except KeyboardInterrupt:
        print("parley.ray: interrupted; run again to resume", file=sys.stderr)
        return 130
    except Exception as e:
        print(f"parley.ray: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    # Run the importable module's main, not this __main__ copy, so that Ray pickles the
    # task and the actor by reference (parley.ray on the workers) rather than by value.
    from parley.ray import main as _main

    sys.exit(_main())
