"""End-to-end tests: the real `parley` binary, real files, real processes, real servers.

PARLEY_BIN names the binary (default: .build/debug/parley). With PARLEY_REQUIRE_ALL=1
(as CI sets it) a missing optional dependency fails the test instead of skipping it.
"""
import json, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("PARLEY_BIN", str(ROOT / ".build/debug/parley"))


def need(condition, why):
    """Skip (or, under PARLEY_REQUIRE_ALL, fail) when a prerequisite is missing."""
    if condition:
        return
    if os.environ.get("PARLEY_REQUIRE_ALL") == "1":
        pytest.fail(f"required for this run: {why}")
    pytest.skip(why)


def parley(*args, check=False, timeout=300, **kw):
    """Runs the CLI; returns the CompletedProcess (text mode)."""
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"parley {' '.join(map(str, args))} exited {p.returncode}:\n{p.stderr}")
    return p


def read_jsonl(path):
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_json(path, obj):
    Path(path).write_text(json.dumps(obj, indent=2))
    return path


def scripted_config(tmp, **overrides):
    cfg = {
        "backends": {"fake": {"type": "scripted", "words": [4, 16], "latency_ms": 2, "jitter_ms": 2}},
        "roles": {
            "asker": {"backend": "fake", "endpoint": "completion", "max_tokens": 32},
            "assistant": {"backend": "fake", "system_prompt": "Be helpful.", "max_tokens": 64},
        },
        "turns": {"max": [2, 6]},
        "run": {"seed": 11, "concurrency": 32},
        "output": {"formats": ["sharegpt", "messages"]},
    }
    for k, v in overrides.items():
        cfg[k] = v
    return write_json(Path(tmp) / "config.json", cfg)


def write_seeds(tmp, lines, name="seeds.jsonl"):
    path = Path(tmp) / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


LOCAL_MODEL = ROOT / "scripts/local-model"
LLAMA_SLOT = 512  # tokens per slot of the shared llama_server: --ctx 4*LLAMA_SLOT --parallel 4


def need_local_model():
    files = ("llama-bin/llama-server", "gemma-3-270m-q4_k_m.gguf")
    installed = all((ROOT / ".local-model" / f).exists() for f in files)
    need(installed, "the local model is not installed (scripts/local-model install)")


def start_local_model(*options):
    """Starts a llama.cpp server (scripts/local-model start OPTIONS); returns (base URL without
    /v1, pid). Stop it with stop_local_model."""
    # --owner: the server stops with this test session, even one killed before its teardown.
    out = subprocess.run([LOCAL_MODEL, "start", *map(str, options), "--owner", str(os.getpid())],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in out.stdout.split())
    return env["LOCAL_MODEL_URL"], int(env["LOCAL_MODEL_PID"])


def stop_local_model(pid):
    subprocess.run([LOCAL_MODEL, "stop", str(pid)], timeout=60)


@pytest.fixture(scope="session")
def llama_server():
    """The real local llama.cpp server (scripts/local-model start), one for the whole session:
    4 slots of LLAMA_SLOT tokens. Yields its base URL (no /v1)."""
    need_local_model()
    url, pid = start_local_model("--ctx", 4 * LLAMA_SLOT, "--parallel", 4)
    yield url
    stop_local_model(pid)


@pytest.fixture(scope="session", autouse=True)
def binary_exists():
    if not Path(BIN).exists():
        pytest.fail(f"{BIN} not found: build with `swift build` first (scripts/test does)")


def kill_until_done(args, seed, window=(0.1, 0.4), attempts=60):
    """Runs the CLI again and again, SIGKILLing it after a random moment in `window`
    seconds, until a run finishes by itself; returns how many times it was killed.
    After `attempts` kills the last run goes on to its end (up to 5 minutes): on a loaded
    machine a resumed run's start-up can fill the whole window, and a run that cannot
    finish at all must still fail (callers check that the kills really happened)."""
    import random
    rng = random.Random(seed)
    kills = 0
    while True:
        proc = subprocess.Popen([str(a) for a in args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rng.uniform(*window) if kills < attempts else 300)
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL: no chance to clean up
            proc.wait()
            if kills >= attempts:
                raise AssertionError(f"the run never finished: {kills} kills, then 300 s without an end")
            kills += 1
            continue
        assert proc.returncode == 0, proc.stderr.read().decode()
        return kills


def serve_http(handler):
    """A stdlib HTTP server on a free loopback port, serving `handler` in a daemon thread; its
    `url` is http://127.0.0.1:PORT. Stop it with stop_http."""
    from http.server import ThreadingHTTPServer
    import threading
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # a client that hung up: no traceback
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd


def stop_http(httpd):
    httpd.shutdown()
    httpd.server_close()


def dialogues_by_id(run):
    """A run's dataset rows as {id: conversations}, asserting that no dialogue was written twice."""
    rows = read_jsonl(Path(run) / "dialogues.jsonl")
    by_id = {r["id"]: r["conversations"] for r in rows}
    assert len(by_id) == len(rows), "a dialogue was written twice"
    return by_id


def journal_made_once(run):
    """Asserts that no message, judgment or recipe record appears twice in a run's journal
    (what a resume must never redo); returns the journal's records."""
    journal = read_jsonl(Path(run) / "journal.jsonl")
    for kind in ("msg", "rec"):
        made = [(e["d"], e["n"]) for e in journal if e["t"] == kind]
        assert len(made) == len(set(made)), f"a {kind} record was made twice"
    return journal
