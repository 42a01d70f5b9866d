#!/usr/bin/env python3
"""A fake OpenAI-compatible server that queues instead of rejecting, for the serving tests
(standard library only).

Like vLLM or llama.cpp under load, it accepts every request and gets slower: a request that
arrives to find n requests in flight (itself included) is answered after
base_latency × max(1, n / knee) seconds, so up to `knee` requests run at full speed and
beyond it the throughput stays at knee / base_latency while the latency grows. An adaptive
client should settle near the knee.

With `slowdown` s > 0 it batches, as llama.cpp does on a CPU: the requests running together
(at most `knee`) each take longer, base_latency × (1 + s × (batch − 1)), and the queue beyond
the knee multiplies that by n / knee. Up to the knee, latency grows while throughput still
rises; beyond it throughput stays flat.

    with QueueServer(base_latency=0.1, knee=4) as server:
        ... point the client at server.url + "/v1" ...
        server.log       # one entry per completion request, in arrival order
        server.trace     # (t, in flight) at every arrival and departure

Optionally, as a hosted API does, it announces and enforces per-minute limits:
  announce_rpm=R     every answer carries x-ratelimit-limit-requests: R,
                     x-ratelimit-remaining-requests (R minus the requests of the last 60 s)
                     and x-ratelimit-reset-requests
  announce_tpm=T     the same for tokens (x-ratelimit-*-tokens), counting prompt + completion
  enforce=True       a request that would exceed a limit over the sliding minute gets 429 with
                     Retry-After (seconds until the window frees one) and the same headers
  send_remaining     False: only the limits, no remaining/reset headers

/v1/chat/completions and /v1/completions answer a valid completion with usage (prompt tokens
≈ prompt bytes / 4, completion tokens = words), each text different (no dialogue looks
degenerate). Every answer has `words` words (default 8: the same length), so the latency per
completion token, which a client may watch, moves with the load only; /health answers
{"status": "ok"}; anything else 404 (it is not llama.cpp: no /props, no /tokenize). HTTP/1.1
keep-alive.

Command line:
    python3 Tests/e2e/queueserver.py [--base-latency S] [--knee K] [--slowdown F] [--rpm R] [--tpm T] [--enforce]
                                     [--port P]
prints QUEUE_SERVER_URL=http://127.0.0.1:PORT on stdout and serves until SIGTERM/SIGINT, then
prints a JSON summary (requests, 429s, peak in flight) on stderr.
"""
import argparse
import collections
import itertools
import json
import math
import random
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORDS = ("alpha bravo cedar delta ember fable garnet harbor island jasper kettle lumen meadow nectar "
         "orbit pepper quartz raven saffron timber umber velvet willow xenon yarrow zephyr").split()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def handle_error(self, request, address):
        pass  # a client that hung up: no traceback


class QueueServer:
    def __init__(self, base_latency=0.1, knee=4, slowdown=0.0, announce_rpm=None, announce_tpm=None, enforce=False,
                 send_remaining=True, words=(8, 8), seed=0, host="127.0.0.1", port=0):
        if knee <= 0 or base_latency < 0:
            raise ValueError("knee must be positive and base_latency not negative")
        self.base_latency, self.knee, self.slowdown = float(base_latency), float(knee), float(slowdown)
        self.announce_rpm, self.announce_tpm = announce_rpm, announce_tpm
        self.enforce, self.send_remaining = enforce, send_remaining
        self.words = words
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)  # thread-safe in CPython
        self._in_flight = 0
        self._log = []
        self._trace = []
        self._window = collections.deque()  # (time, tokens) of the requests admitted in the last 60 s
        self.started = time.monotonic()
        self._httpd = _Server((host, port), type("Handler", (_Handler,), {"server_": self}))
        self.port = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="queueserver", daemon=True)
        self._thread.start()

    def now(self):
        """Seconds since the server started: the clock of `log` and `trace`."""
        return time.monotonic() - self.started

    @property
    def log(self):
        """A snapshot, one dict per completion request in arrival order: t (arrival), t_end,
        in_flight (on arrival, itself included; 0 for a 429), latency, status, path,
        prompt_tokens, completion_tokens."""
        with self._lock:
            return [dict(e) for e in self._log]

    @property
    def trace(self):
        """A snapshot: (t, requests in flight) after every arrival and departure."""
        with self._lock:
            return list(self._trace)

    @property
    def peak(self):
        with self._lock:
            return max((n for _, n in self._trace), default=0)

    def summary(self):
        log = self.log
        return {"requests": len(log), "rejected": sum(e["status"] == 429 for e in log), "peak_in_flight": self.peak}

    # -- the model of a server ---------------------------------------------------------------

    def _limits(self, now):
        """Drops what left the sliding minute; returns (requests, tokens) in it. Holds the lock."""
        while self._window and self._window[0][0] <= now - 60:
            self._window.popleft()
        return len(self._window), sum(t for _, t in self._window)

    def _headers(self, requests, tokens, now):
        h = []
        if self.announce_rpm is not None:
            h.append(("x-ratelimit-limit-requests", f"{self.announce_rpm:g}"))
            if self.send_remaining:
                h.append(("x-ratelimit-remaining-requests", str(max(0, int(self.announce_rpm - requests)))))
                h.append(("x-ratelimit-reset-requests", self._reset(now)))
        if self.announce_tpm is not None:
            h.append(("x-ratelimit-limit-tokens", f"{self.announce_tpm:g}"))
            if self.send_remaining:
                h.append(("x-ratelimit-remaining-tokens", str(max(0, int(self.announce_tpm - tokens)))))
                h.append(("x-ratelimit-reset-tokens", self._reset(now)))
        return h

    def _reset(self, now):
        """OpenAI's format: time until the oldest request of the window leaves it, e.g. "1.5s"."""
        wait = (self._window[0][0] + 60 - now) if self._window else 0
        return f"{max(0.0, wait):.3f}s"

    def _arrive(self, n, path, prompt_tokens, completion_tokens):
        """Admits or rejects request n; returns (entry, status, latency, headers)."""
        with self._lock:
            now = self.now()
            requests, tokens = self._limits(now)
            cost = prompt_tokens + completion_tokens
            over = self.enforce and (
                (self.announce_rpm is not None and requests + 1 > self.announce_rpm)
                or (self.announce_tpm is not None and tokens + cost > self.announce_tpm))
            entry = {"t": now, "t_end": now, "in_flight": 0, "latency": 0.0, "status": 429 if over else 200,
                     "path": path, "n": n, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
            self._log.append(entry)
            if over:
                retry = max(1, math.ceil(self._window[0][0] + 60 - now)) if self._window else 1
                return entry, 429, 0.0, [("Retry-After", str(retry))] + self._headers(requests, tokens, now)
            self._window.append((now, cost))
            self._in_flight += 1
            n = self._in_flight
            self._trace.append((now, n))
            batch = min(n, self.knee)
            latency = self.base_latency * (1 + self.slowdown * (batch - 1)) * max(1.0, n / self.knee)
            entry["in_flight"], entry["latency"] = n, latency
            return entry, 200, latency, self._headers(requests + 1, tokens + cost, now)

    def _depart(self, entry):
        with self._lock:
            self._in_flight -= 1
            entry["t_end"] = self.now()
            self._trace.append((entry["t_end"], self._in_flight))

    def _text(self, chat, n):
        with self._lock:
            k = self._rng.randint(*self.words)
            words = [self._rng.choice(WORDS) for _ in range(k)]
        if chat:
            return f"Answer {n}: " + " ".join(words) + "."
        return f" Question {n}: " + " ".join(words) + "?"

    def close(self):
        if self._closing.is_set():
            return
        self._closing.set()  # ends the waits of requests in flight
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_: QueueServer = None

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status, body, headers=()):
        data = json.dumps(body).encode()
        head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}", "Content-Type: application/json",
                f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers)]
        try:
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        except OSError:
            self.close_connection = True

    def do_GET(self):
        if self.path.split("?", 1)[0] == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": {"message": "not found", "type": "not_found_error"}})

    def do_POST(self):
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
        except (ValueError, OSError):
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        chat = path.endswith("/chat/completions")
        if not chat and not path.endswith("/completions"):
            self._send(404, {"error": {"message": "not found", "type": "not_found_error"}})
            return
        s = self.server_
        prompt = json.dumps(body.get("messages")) if chat else str(body.get("prompt", ""))
        prompt_tokens = max(1, len(prompt.encode()) // 4)
        n = next(s._ids)
        text = s._text(chat, n)
        completion_tokens = len(text.split())
        entry, status, latency, headers = s._arrive(n, path, prompt_tokens, completion_tokens)
        if status != 200:
            self._send(status, {"error": {"message": "rate limit reached (queueserver)", "type": "requests"}}, headers)
            return
        try:
            s._closing.wait(latency)
        finally:
            s._depart(entry)
        choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"} if chat
                  else {"index": 0, "text": text, "finish_reason": "stop"})
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        self._send(200, {"id": f"q{entry['n']}", "object": "chat.completion" if chat else "text_completion",
                         "model": body.get("model", "queue-1"), "choices": [choice], "usage": usage}, headers)


def main(argv=None):
    ap = argparse.ArgumentParser(description="A fake OpenAI-compatible server that queues, for Parley's tests.")
    ap.add_argument("--base-latency", type=float, default=0.1, help="seconds per request up to the knee")
    ap.add_argument("--knee", type=float, default=4, help="requests in flight served at full speed")
    ap.add_argument("--slowdown", type=float, default=0.0,
                    help="each request of a batch takes this share of the base latency longer per other request")
    ap.add_argument("--rpm", type=float, default=None, help="announce x-ratelimit-limit-requests")
    ap.add_argument("--tpm", type=float, default=None, help="announce x-ratelimit-limit-tokens")
    ap.add_argument("--enforce", action="store_true", help="answer 429 over the announced limits (sliding minute)")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        server = QueueServer(base_latency=a.base_latency, knee=a.knee, slowdown=a.slowdown, announce_rpm=a.rpm,
                             announce_tpm=a.tpm, enforce=a.enforce, port=a.port)
    except (ValueError, OSError) as e:
        print(f"queueserver: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"QUEUE_SERVER_URL={server.url}", flush=True)
    while not stop.wait(0.5):
        pass
    server.close()
    print(json.dumps(server.summary()), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
