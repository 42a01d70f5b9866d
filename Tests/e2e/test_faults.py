"""Parley through the fault-injecting proxy (faultproxy.py): 429/500/503 answers, connection
resets, stalls past the client's timeout, malformed and truncated bodies, empty choices
and dribbled answers, mixed at random into many concurrent dialogues.

With retries every fault is ridden out: nothing fails, nothing is written twice. With no
retries every faulted request fails its dialogue at once, and the failure's reason names
the fault. Both against a stdlib upstream (fast) and the real local llama.cpp server.

A loaded machine also makes real timeouts: the proxy counts the requests on completion
paths whose client hung up before the answer was sent (`proxy.abandoned`): each is one
more timeout. (Not counted: a client whose deadline passes in the instant after the
proxy sent the whole answer; rare, it would show as one timeout too many.)"""
import itertools, json, os, re, socket, threading, time, urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from conftest import journal_made_once, parley, read_jsonl, scripted_config, serve_http, stop_http, write_seeds
from faultproxy import ALL_KINDS, FaultProxy

N_SEEDS = 200
# On the real model CI runs fewer (the whole suite has a time budget); scripts/soak runs N_SEEDS.
LOCAL_SEEDS = int(os.environ.get("PARLEY_FAULT_DIALOGUES", "40"))
FAULTS = tuple(k for k in ALL_KINDS if k != "dribble")  # dribble is slow but valid
# What each fault's failure reason says (with no retries).
REASON = {"429": "HTTP 429", "500": "HTTP 500", "503": "HTTP 503", "reset": "reset", "stall": "timeout",
          "malformed": "malformed body", "short": "truncated body", "empty_choices": "no choices"}
assert set(REASON) == set(FAULTS)
# The real local model: the client's timeout, and a stall that outlasts it.
# Generous: under CPU load (a build beside the tests) a 2 s timeout made real timeouts pile up.
LOCAL_TIMEOUT_SECONDS, LOCAL_STALL_SECONDS = 5, 7


class Upstream:
    """An OpenAI-style server: /v1/chat/completions and /v1/completions always succeed, each
    answer different (no dialogue looks degenerate); HTTP/1.1 keep-alive."""

    def __init__(self):
        self.requests = 0
        counter, lock, upstream = itertools.count(1), threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    n = next(counter)
                    upstream.requests += 1
                if self.path.endswith("/chat/completions"):
                    choice = {"index": 0, "message": {"role": "assistant", "content": f"Answer number {n} is forty-{n}."},
                              "finish_reason": "stop"}
                else:
                    choice = {"index": 0, "text": f" What about case {n}?\nAssistant: ignored", "finish_reason": "stop"}
                data = json.dumps({"id": f"c{n}", "model": "up-1", "choices": [choice],
                                   "usage": {"prompt_tokens": 12, "completion_tokens": 7}}).encode()
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(data), data))

        self.httpd = serve_http(Handler)
        self.url = self.httpd.url

    def close(self):
        stop_http(self.httpd)


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.close()


def seeds_file(tmp_path, n=N_SEEDS):
    return write_seeds(tmp_path, [json.dumps({"question": f"q{i}"}) for i in range(n)])


def stub_config(tmp_path, proxy, max_retries):
    return scripted_config(tmp_path,
        backends={"srv": {"type": "openai", "base_url": proxy.url + "/v1", "model": "m", "timeout_seconds": 1,
                          "max_retries": max_retries, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05}},
        roles={"asker": {"backend": "srv", "endpoint": "completion", "max_tokens": 16},
               "assistant": {"backend": "srv", "system_prompt": "Be brief.", "max_tokens": 32}},
        turns={"max": 2}, run={"seed": 11, "concurrency": 32})


def synth_stub(tmp_path, upstream, max_retries):
    with FaultProxy(upstream=upstream.url, rate=0.3, kinds=ALL_KINDS, seed=0, stall_seconds=3) as proxy:
        cfg = stub_config(tmp_path, proxy, max_retries)
        start = time.monotonic()
        p = parley("synth", "--config", cfg, "--seeds", seeds_file(tmp_path), "--out", tmp_path / "run", "--quiet",
                   timeout=600)
        took = time.monotonic() - start
        counts, abandoned = proxy.counts, proxy.abandoned
    return p, counts, abandoned, took


def warm_up(llama_server):
    """One small completion straight to the server: a cold server's first batch is slow."""
    req = urllib.request.Request(f"{llama_server}/v1/completions", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"prompt": "Human: Hello?\nAssistant:", "max_tokens": 4}).encode())
    urllib.request.urlopen(req, timeout=120).read()


def synth_local(tmp_path, llama_server, max_retries):
    warm_up(llama_server)
    with FaultProxy(upstream=llama_server, rate=0.3, kinds=ALL_KINDS, seed=0, stall_seconds=LOCAL_STALL_SECONDS) as proxy:
        start = time.monotonic()
        p = parley("synth", "--config", "examples/configs/local.json", "--seeds", seeds_file(tmp_path, LOCAL_SEEDS),
                   "--out", tmp_path / "run", "--quiet",
                   "--set", f"backends.local.base_url={proxy.url}/v1",
                   "--set", f"backends.local.timeout_seconds={LOCAL_TIMEOUT_SECONDS}",
                   "--set", f"backends.local.max_retries={max_retries}",
                   "--set", "backends.local.backoff_base_seconds=0.1",
                   "--set", "backends.local.backoff_max_seconds=0.5",
                   "--set", "turns.max=2", "--set", "roles.asker.max_tokens=8", "--set", "roles.assistant.max_tokens=8",
                   timeout=600)
        took = time.monotonic() - start
        counts, abandoned = proxy.counts, proxy.abandoned
    return p, counts, abandoned, took


def check_run(run, p):
    """What must hold however the faults fell: every output line parses, every seed ended
    exactly once in exactly one file, the summary agrees with the files, and the journal
    never made a record twice. Returns (summary, kept + filtered rows, failures)."""
    run = Path(run)
    assert p.returncode in (0, 1) and (run / "summary.json").exists(), p.stderr
    for f in sorted(run.iterdir()):
        if f.suffix == ".jsonl":
            for n, line in enumerate(f.read_text().splitlines(), 1):
                try:
                    json.loads(line)
                except json.JSONDecodeError as e:
                    raise AssertionError(f"{f.name} line {n} does not parse: {e}: {line[:200]!r}")
    summary = json.loads((run / "summary.json").read_text())
    assert json.loads(p.stdout) == summary
    dialogues, filtered, failures = (read_jsonl(run / n) for n in ("dialogues.jsonl", "filtered.jsonl", "failures.jsonl"))
    assert (summary["finished"], summary["filtered"], summary["failed"]) == (len(dialogues), len(filtered), len(failures))
    n = len(read_jsonl(Path(run).parent / "seeds.jsonl"))
    assert summary["seeds"] == n and summary["invalid_seeds"] == 0
    rows = dialogues + filtered
    ids = [r["id"] for r in rows + failures]
    assert len(ids) == len(set(ids)) == n, "every seed ends exactly once"
    lines = [r["meta"]["seed_line"] for r in rows] + [f["line"] for f in failures]
    assert sorted(lines) == list(range(1, n + 1))
    journal = journal_made_once(run)
    assert sorted(e["d"] for e in journal if e["t"] == "end") == sorted(ids)
    return summary, rows, failures


def every_kind_drawn(counts, run):
    """With N_SEEDS dialogues every kind is drawn (the proxy's draws are seeded); fewer (the
    real model's CI run) may miss one."""
    if len(read_jsonl(Path(run).parent / "seeds.jsonl")) >= N_SEEDS:
        assert all(counts[k] > 0 for k in ALL_KINDS), f"every kind of fault was drawn: {counts}"
    assert sum(counts[k] for k in FAULTS) > 0, f"the proxy faulted nothing: {counts}"


def retries_ride_out_every_fault(p, counts, abandoned, took, run, exact=True):
    print(f"\nproxy counts {counts}, abandoned by the client {abandoned}; parley took {took:.1f} s")
    assert p.returncode == 0, p.stderr
    summary, rows, failures = check_run(run, p)
    print(f"finished {summary['finished']}, filtered {summary['filtered']}, failed {summary['failed']}, "
          f"end reasons {summary['end_reasons']}")
    assert failures == [], (f"{abandoned.get('pass', 0)} of {counts['pass']} passed-through requests timed out "
                            f"(a server too slow for the timeout?); reasons: {[f['reason'] for f in failures[:5]]}")
    every_kind_drawn(counts, run)
    # Every fault, and every request the client gave up on, cost one more attempt of the
    # message being generated (an abandoned "short" is one of the faults already).
    expected = sum(counts[k] for k in FAULTS) + abandoned.get("pass", 0) + abandoned.get("dribble", 0)
    in_rows = sum(g["attempts"] - 1 for r in rows for g in r["meta"]["generation"] if g.get("attempts"))
    journaled = sum(e["m"]["meta"]["attempts"] - 1 for e in read_jsonl(Path(run) / "journal.jsonl") if e["t"] == "msg")
    print(f"retries: {in_rows} in the rows, {journaled} in the journal; faults injected + requests abandoned: {expected}")
    if exact:  # the stub never repeats itself: every message is kept
        assert in_rows == journaled == expected
    else:
        # A real model repeats itself: a message that would make its dialogue degenerate is
        # neither journaled nor kept (nor are its attempts), and the row of a dialogue
        # ended so keeps only its complete exchanges.
        assert in_rows <= journaled <= expected


def no_retries_fail_with_the_faults_reason(p, counts, abandoned, took, run):
    summary, rows, failures = check_run(run, p)
    # Parley exits 1 only when every dialogue failed (a server too slow for the timeout).
    assert p.returncode == (0 if rows else 1), p.stderr
    found, unnamed = Counter(), []
    for f in failures:
        named = [k for k, words in REASON.items() if words in f["reason"]]
        if len(named) == 1 and "after 1 attempt" in f["reason"]:
            found[named[0]] += 1
        else:
            unnamed.append(f["reason"])
    # Each fault fails its request; a request the client gave up on (whatever its kind)
    # fails by timing out.
    expected = {k: counts[k] - abandoned.get(k, 0) for k in FAULTS}
    expected["stall"] = counts["stall"] + sum(abandoned.values())
    print(f"\nparley took {took:.1f} s; finished {summary['finished']}, filtered {summary['filtered']}, "
          f"failed {summary['failed']}")
    print(f"{'kind':15} {'injected':>8} {'abandoned':>9} {'expected':>8} {'failures':>8}  (reason words)")
    for k in ALL_KINDS:
        print(f"{k:15} {counts[k]:8} {abandoned.get(k, 0):9} {expected.get(k, '-'):>8} {found[k] if k in REASON else '-':>8}"
              f"  {REASON.get(k, '(not a fault)')!r}")
    print(f"{'pass':15} {counts['pass']:8} {abandoned.get('pass', 0):9}")
    if unnamed:
        print(f"{len(unnamed)} reasons that name no fault (or more than one):")
        for reason, n in Counter(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", r) for r in unnamed).most_common():
            print(f"  {n:4} x {reason}")
    assert not unnamed, f"{len(unnamed)} failure reasons name no fault (or more than one), e.g. {unnamed[0]!r}"
    assert {k: found[k] for k in FAULTS} == expected
    every_kind_drawn(counts, run)


def test_retries_ride_out_every_fault(tmp_path, upstream):
    retries_ride_out_every_fault(*synth_stub(tmp_path, upstream, max_retries=12), tmp_path / "run")


def test_without_retries_each_failure_names_its_fault(tmp_path, upstream):
    no_retries_fail_with_the_faults_reason(*synth_stub(tmp_path, upstream, max_retries=0), tmp_path / "run")


def test_retries_ride_out_every_fault_on_the_local_model(tmp_path, llama_server):
    retries_ride_out_every_fault(*synth_local(tmp_path, llama_server, max_retries=12), tmp_path / "run", exact=False)


def test_without_retries_each_failure_names_its_fault_on_the_local_model(tmp_path, llama_server):
    no_retries_fail_with_the_faults_reason(*synth_local(tmp_path, llama_server, max_retries=0), tmp_path / "run")
