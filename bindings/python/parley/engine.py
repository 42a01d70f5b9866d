"""Engine, Job and PullQueue: the Pythonic layer over the C ABI."""
from __future__ import annotations

import ctypes
import itertools
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from . import _lib
from ._lib import GENERATE_FN, call, call_new, check
from .errors import Cancelled, ParleyError, ParleyTimeout
from .types import DialogueRow, GenerationRequest, JobEvent, JobProgress, JobResult

PathLike = Union[str, "os.PathLike[str]"]
Config = Union[Dict[str, Any], str, "os.PathLike[str]"]
Seeds = Union[PathLike, Iterable[Union[Dict[str, Any], str]]]
Answer = Union[str, Dict[str, Any]]
Shard = Union[str, Tuple[int, int]]  # "K/N" or (K, N), 1-based

# Waits without a timeout are cut into slices so that Ctrl-C is seen between them:
# Python handles signals only when the foreign call returns.
_SLICE = 0.25

# CFUNCTYPE objects C may still call: kept here (not only on the Engine) until the
# engine and all its jobs are freed, so that dropping an Engine without close() leaks
# a little instead of letting C call freed memory.
_keepalive: Dict[int, List[Any]] = {}
_keys = itertools.count()


def config_text(config: Config) -> str:
    """JSON text of a config: a dict, JSON text (a str starting with "{"), or a file path."""
    if isinstance(config, dict):
        return json.dumps(config)
    if isinstance(config, str) and config.lstrip().startswith("{"):
        return config
    if isinstance(config, (str, os.PathLike)):
        return Path(config).read_text(encoding="utf-8")
    raise TypeError(f"config must be a dict, JSON text or a path, not {type(config).__name__}")


def shard_text(shard: Shard) -> str:
    """ "K/N" for a shard given as "K/N" or (K, N); the library checks 1 <= K <= N."""
    if isinstance(shard, str):
        return shard
    if isinstance(shard, tuple) and len(shard) == 2 and all(isinstance(x, int) for x in shard):
        return f"{shard[0]}/{shard[1]}"
    raise TypeError(f'shard must be "K/N" or a (K, N) tuple of ints, not {shard!r}')


def _job_spec(seeds: Seeds, out: Optional[PathLike], fresh: bool, shard: Optional[Shard] = None) -> Dict[str, Any]:
    shard_field = {} if shard is None else {"shard": shard_text(shard)}  # a bad one fails before mkdtemp
    spec: Dict[str, Any] = {"out": os.fspath(out) if out is not None else tempfile.mkdtemp(prefix="parley-"),
                            "fresh": fresh, **shard_field}
    if isinstance(seeds, (str, os.PathLike)):
        spec["seeds_file"] = os.fspath(seeds)
    else:
        spec["seeds"] = list(seeds)  # dicts, or strings that are JSONL lines
    return spec


class _Failures:
    """Exceptions raised by host callbacks, in order, so a job's caller can re-raise them
    (ctypes would print and swallow them). A job re-raises the first one recorded after
    it started; with several jobs at once on one engine it cannot tell whose it was."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: List[BaseException] = []

    def add(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)

    def mark(self) -> int:
        with self._lock:
            return len(self._errors)

    def first_since(self, mark: int) -> Optional[BaseException]:
        with self._lock:
            return self._errors[mark] if len(self._errors) > mark else None


def _answer_fields(answer: Answer) -> Tuple[str, Optional[str], Optional[int], Optional[int]]:
    if isinstance(answer, str):
        return answer, None, None, None
    if isinstance(answer, dict):
        text = answer["text"]
        if not isinstance(text, str):
            raise TypeError(f'"text" must be a str, not {type(text).__name__}')
        return text, answer.get("finish_reason"), answer.get("prompt_tokens"), answer.get("completion_tokens")
    raise TypeError(f"a callback must return a str or a dict, not {type(answer).__name__}")


_thread_state = threading.local()


def _keep_thread_state() -> None:
    """ctypes makes a Python thread state for each call from a thread Python did not start and
    deletes it after; Parley's callback threads are few and long-lived, so one extra
    PyGILState_Ensure, never released, keeps theirs: about 40 CPU µs less per request, measured with
    pure callbacks in separate processes (benchmarks/python_host.py shows the whole path)."""
    if not getattr(_thread_state, "kept", False) and hasattr(ctypes, "pythonapi"):
        ctypes.pythonapi.PyGILState_Ensure()
        _thread_state.kept = True


def _thunk(fn: Callable[[Dict[str, Any]], Answer], failures: _Failures) -> Any:
    """Wraps `fn` as a parley_generate_fn. It never lets an exception reach ctypes: the
    request fails with the exception's message and the exception is kept to re-raise."""
    L = _lib.lib()

    def generate(request_json: bytes, reply: int, _user_data: Optional[int]) -> int:
        _keep_thread_state()
        try:
            text, finish, prompt_tokens, completion_tokens = _answer_fields(fn(json.loads(request_json)))
            check(L.parley_reply_set_text(reply, text.encode("utf-8"), finish.encode() if finish else None))
            if prompt_tokens is not None or completion_tokens is not None:
                check(L.parley_reply_set_usage(reply, -1 if prompt_tokens is None else prompt_tokens,
                                               -1 if completion_tokens is None else completion_tokens))
        except BaseException as exc:  # KeyboardInterrupt too: ctypes would swallow it
            failures.add(exc)
            message = f"{type(exc).__name__}: {exc}"
            L.parley_reply_set_error(reply, message.encode("utf-8", errors="replace"), 0)
        return 0

    return GENERATE_FN(generate)


class Engine:
    """A Parley engine made from a config (see README.md). Close it, or use `with`."""

    def __init__(self, config: Config) -> None:
        self._handle = call_new(_lib.lib().parley_engine_new, config_text(config).encode("utf-8"))
        self._closed = False
        self._lock = threading.Lock()
        self._open_jobs = 0
        self._key = next(_keys)
        self._thunks: List[Any] = []
        self._queues: Dict[str, PullQueue] = {}
        self._failures = _Failures()

    # A closed engine keeps its (stale) handle: the library reports it as PARLEY_ERR_HANDLE.

    def set_callback(self, backend: str, fn: Callable[[Dict[str, Any]], Answer]) -> None:
        """Serves the "host" backend `backend` with `fn(request) -> str | dict` (`request`: a
        GenerationRequest), called on Parley's threads, several at once (each keeps its
        threading.local state between calls). A dict may hold "text", "finish_reason",
        "prompt_tokens", "completion_tokens". An exception fails the request (not retried)
        and is re-raised by the call that ran the job. With ``"blocking": false`` in the backend's
        config, `fn` must answer at once (no I/O, no waiting): it is then called without a hand-off
        to Parley's callback threads. From Python that saves little or nothing: a call waiting for the
        GIL then stalls Parley's own threads (benchmarks/python_host.py measures both ways)."""
        thunk = _thunk(fn, self._failures)
        with self._lock:
            self._thunks.append(thunk)
            _keepalive[self._key] = self._thunks
        call(_lib.lib().parley_engine_set_callback, self._handle, backend.encode(), thunk, None)

    def pull(self, backend: str) -> PullQueue:
        """Serves the "host" backend `backend` through a pull queue (same queue on a second call)."""
        with self._lock:
            queue = self._queues.get(backend)
        if queue is None:
            call(_lib.lib().parley_engine_use_pull, self._handle, backend.encode())
            queue = PullQueue(self, backend)
            with self._lock:
                queue = self._queues.setdefault(backend, queue)
        return queue

    def run(self, job: Dict[str, Any]) -> JobResult:
        """Runs a job (the JSON object of parley.h) to its end; returns the raw result.
        Blocks in one parley_run() call, so Ctrl-C waits for the end: use start() to cancel."""
        mark = self._failures.mark()
        try:
            (text,) = call(_lib.lib().parley_run, self._handle, json.dumps(job).encode("utf-8"), outs=1)
        except ParleyError as e:
            self._reraise_callback_error(mark, e)
            raise
        self._reraise_callback_error(mark)
        result: JobResult = json.loads(text or "null")
        return result

    def start(self, seeds: Seeds, out: Optional[PathLike] = None, fresh: bool = False,
              shard: Optional[Shard] = None) -> Job:
        """Starts a job in the background. `seeds`: seed dicts (or JSONL line strings) or a
        seeds file path; the config's "seeds" is only the CLI's default. `out`: the run
        directory (default: a new temporary one); a run there is resumed unless `fresh`.
        `shard`: "K/N" or (K, N), to run only that shard of the seeds (overrides the
        config's run.shard); the shards' directories are joined with parley.merge()."""
        return self.start_job(_job_spec(seeds, out, fresh, shard))

    def start_job(self, job: Dict[str, Any]) -> Job:
        """Starts a raw job object (parley.h) in the background."""
        mark = self._failures.mark()
        handle = call_new(_lib.lib().parley_job_start, self._handle, json.dumps(job).encode("utf-8"))
        with self._lock:
            self._open_jobs += 1
        return Job(self, handle, mark)

    def synthesize(self, seeds: Seeds, out: Optional[PathLike] = None, fresh: bool = False,
                   shard: Optional[Shard] = None) -> List[DialogueRow]:
        """Runs the seeds (or one shard of them, as start()) to the end; returns the rows of
        dialogues.jsonl. Ctrl-C cancels the job (the run directory stays resumable) and re-raises."""
        with self.start(seeds, out, fresh, shard) as job:
            try:
                rows: List[DialogueRow] = job.wait()["dialogues"]
                return rows
            except KeyboardInterrupt:
                job.cancel()
                raise

    def close(self) -> None:
        """Frees the engine. Its running jobs finish; close them too."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            check(_lib.lib().parley_engine_free(self._handle))
        finally:
            self._release_if_unused()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # at interpreter exit the library may be gone
            pass

    def _job_closed(self) -> None:
        with self._lock:
            self._open_jobs -= 1
        self._release_if_unused()

    def _release_if_unused(self) -> None:
        # Callbacks must stay valid until the engine *and* its jobs are freed (parley.h).
        with self._lock:
            if self._closed and self._open_jobs == 0:
                _keepalive.pop(self._key, None)

    def _reraise_callback_error(self, mark: int, cause: Optional[BaseException] = None) -> None:
        exc = self._failures.first_since(mark)
        if exc is not None:
            raise exc from cause


class Job:
    """A job running in the background (Engine.start). Close it, or use `with`."""

    def __init__(self, engine: Engine, handle: int, mark: int) -> None:
        self._engine = engine  # keeps the engine's callbacks alive while the job runs
        self._handle = handle
        self._mark = mark
        self._closed = False
        self._result: Optional[JobResult] = None
        self._ended = False  # job_ended was read: no event will follow

    @property
    def progress(self) -> JobProgress:
        """{"state": "running"|"done"|"failed"|"cancelled", "seeds", "ended", "failed",
        "messages", "tokens", "in_flight", "resumed"} ("resumed": dialogues an earlier run
        of the directory had already ended)."""
        (text,) = call(_lib.lib().parley_job_progress, self._handle, outs=1)
        progress: JobProgress = json.loads(text or "{}")
        return progress

    @property
    def done(self) -> bool:
        # job_ended is queued just before the state leaves "running": trust either.
        return self._result is not None or self._ended or self.progress.get("state") != "running"

    def cancel(self) -> None:
        """Asks the job to stop (from any thread); it stays resumable."""
        check(_lib.lib().parley_job_cancel(self._handle))

    def wait(self, timeout: Optional[float] = None) -> JobResult:
        """Waits for the end and returns the result (as Engine.run). Raises ParleyTimeout
        after `timeout` seconds, Cancelled (with `.result`) if the job was cancelled, and
        the first exception a host callback raised during the job."""
        if self._result is not None:
            return self._result
        while True:
            try:
                (text,) = call(_lib.lib().parley_job_wait, self._handle,
                               _SLICE if timeout is None else timeout, outs=1)
                break
            except ParleyTimeout:
                if timeout is not None:
                    raise
            except Cancelled as e:
                e.__cause__ = self._engine._failures.first_since(self._mark)
                raise
            except ParleyError as e:
                self._engine._reraise_callback_error(self._mark, e)
                raise
        self._result = json.loads(text or "null")
        self._engine._reraise_callback_error(self._mark)
        return self._result

    def next_event(self, timeout: Optional[float] = None) -> JobEvent:
        """The next event, waiting up to `timeout` seconds (None: forever; then ParleyTimeout)."""
        while True:
            try:
                (text,) = call(_lib.lib().parley_job_next_event, self._handle,
                               _SLICE if timeout is None else timeout, outs=1)
                event: JobEvent = json.loads(text or "{}")
                self._ended = self._ended or event.get("event") == "job_ended"
                return event
            except ParleyTimeout:
                if timeout is not None:
                    raise

    def events(self, timeout: Optional[float] = None) -> Iterator[JobEvent]:
        """The job's events, ending with {"event": "job_ended"}; `timeout` as next_event."""
        while not self._ended:
            yield self.next_event(timeout)

    def close(self) -> None:
        """Frees the job: cancels it if it still runs and waits for it to stop. Blocks."""
        if self._closed:
            return
        self._closed = True
        try:
            check(_lib.lib().parley_job_free(self._handle))
        finally:
            self._engine._job_closed()

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class PullQueue:
    """The pull side of a host backend: take requests in batches, submit their answers."""

    def __init__(self, engine: Engine, backend: str) -> None:
        self._engine = engine
        self.backend = backend
        self._name = backend.encode()

    def take(self, max: int = 64, timeout: float = 1.0) -> List[GenerationRequest]:
        """Up to `max` waiting requests (each with its "ticket"), oldest first; waits up to
        `timeout` seconds for the first; [] if none came."""
        (text,) = call(_lib.lib().parley_pull_take, self._engine._handle, self._name, max, timeout, outs=1)
        requests: List[GenerationRequest] = json.loads(text or "[]")
        return requests

    def submit(self, results: List[Dict[str, Any]]) -> None:
        """Answers taken requests: {"ticket", "text", "finish_reason"?, "prompt_tokens"?,
        "completion_tokens"?} or {"ticket", "error", "retryable"?}. All or nothing: an
        unknown or already answered ticket raises ArgumentError and delivers none."""
        call(_lib.lib().parley_pull_submit, self._engine._handle, self._name, json.dumps(results).encode("utf-8"))

    def batches(self, max: int = 64, timeout: float = 0.1,
                until: Optional[Job] = None) -> Iterator[List[GenerationRequest]]:
        """Yields non-empty batches of requests until `until` is done (forever without it).
        Submit each batch's answers before asking for the next."""
        while True:
            batch = self.take(max, timeout)
            if batch:
                yield batch
            elif until is not None and until.done:
                return
