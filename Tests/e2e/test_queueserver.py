"""The fake queueing server itself (Tests/e2e/queueserver.py), seen from raw clients: the
latency model the adaptive-concurrency test relies on, and the rate-limit headers and 429s
the header-learning test relies on. Needs nothing but Python (not even the parley binary)."""
import http.client, json, subprocess, sys, threading, time
from pathlib import Path
from types import SimpleNamespace

import pytest
from queueserver import QueueServer


@pytest.fixture(autouse=True)
def binary_exists():
    """Overrides conftest's: these tests do not run parley."""


def post(server, path="/v1/chat/completions", payload=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = payload or ({"messages": [{"role": "user", "content": "hi"}]} if "chat" in path else {"prompt": "Human: hi"})
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = json.loads(r.read())
    conn.close()
    return r, data


def at_once(server, n, path="/v1/chat/completions"):
    """n requests in parallel; returns their (response, body, seconds) in completion order."""
    out, lock = [], threading.Lock()

    def one():
        start = time.monotonic()
        r, body = post(server, path)
        with lock:
            out.append((r, body, time.monotonic() - start))
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_valid_completions_with_usage_and_distinct_texts():
    with QueueServer(base_latency=0) as server:
        r1, chat = post(server, "/v1/chat/completions")
        r2, completion = post(server, "/v1/completions")
        r3, chat2 = post(server, "/v1/chat/completions")
        assert r1.status == r2.status == r3.status == 200
        assert chat["choices"][0]["message"]["role"] == "assistant" and chat["choices"][0]["finish_reason"] == "stop"
        assert chat["choices"][0]["message"]["content"] != chat2["choices"][0]["message"]["content"]
        assert completion["choices"][0]["text"].strip()
        for body in (chat, completion):
            u = body["usage"]
            assert u["prompt_tokens"] > 0 and u["completion_tokens"] > 0
            assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
        assert [e["status"] for e in server.log] == [200, 200, 200]
        assert r1.getheader("x-ratelimit-limit-requests") is None  # nothing announced unless asked
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        for path, status in (("/health", 200), ("/props", 404)):
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            assert r.status == status


def test_latency_grows_past_the_knee():
    """Up to the knee every request takes base_latency; at twice the knee each takes about
    twice as long (the throughput stays at knee / base_latency)."""
    base, knee = 0.2, 4
    with QueueServer(base_latency=base, knee=knee) as server:
        below = at_once(server, knee)
        time.sleep(0.1)
        above = at_once(server, 2 * knee)
        assert all(r.status == 200 for r, _, _ in below + above)
        assert max(s for _, _, s in below) < base * 1.6, [round(s, 3) for _, _, s in below]
        log = server.log
        assert max(e["in_flight"] for e in log[:knee]) <= knee
        # The last of the second batch found all 2 × knee in flight.
        assert max(e["in_flight"] for e in log[knee:]) == 2 * knee
        assert max(s for _, _, s in above) > base * 1.75, [round(s, 3) for _, _, s in above]
        assert server.peak == 2 * knee
        late = max(log[knee:], key=lambda e: e["in_flight"])
        assert late["latency"] == pytest.approx(base * 2)


def test_rate_limit_headers_and_enforcement():
    """Announced limits on every answer; with enforce, the request that would exceed the
    sliding minute gets 429 with Retry-After; remaining counts down."""
    with QueueServer(base_latency=0, announce_rpm=3, announce_tpm=100000, enforce=True) as server:
        got = [post(server) for _ in range(4)]
        statuses = [r.status for r, _ in got]
        assert statuses == [200, 200, 200, 429]
        remaining = [r.getheader("x-ratelimit-remaining-requests") for r, _ in got]
        assert remaining == ["2", "1", "0", "0"]
        assert all(r.getheader("x-ratelimit-limit-requests") == "3" for r, _ in got)
        assert all(r.getheader("x-ratelimit-limit-tokens") == "100000" for r, _ in got)
        assert int(got[3][0].getheader("Retry-After")) >= 59
        assert got[0][0].getheader("x-ratelimit-reset-requests").endswith("s")
        assert [e["status"] for e in server.log] == statuses


def test_announced_but_not_enforced_and_without_remaining():
    with QueueServer(base_latency=0, announce_rpm=1, send_remaining=False) as server:
        got = [post(server)[0] for _ in range(3)]
        assert [r.status for r in got] == [200, 200, 200]
        assert all(r.getheader("x-ratelimit-limit-requests") == "1" for r in got)
        assert all(r.getheader("x-ratelimit-remaining-requests") is None for r in got)


def test_command_line():
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("queueserver.py")), "--base-latency", "0",
                             "--rpm", "1", "--enforce"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        at = SimpleNamespace(port=int(proc.stdout.readline().strip().rsplit(":", 1)[1]))
        assert post(at)[0].status == 200 and post(at)[0].status == 429
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert json.loads(err.strip().splitlines()[-1]) == {"requests": 2, "rejected": 1, "peak_in_flight": 1}
