#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 proxy for the end-to-end tests (standard library only).

Sits between Parley and an OpenAI-compatible server. Requests whose path ends with one of
`fault_paths` get a fault with probability `rate`, its kind drawn uniformly from `kinds`;
every other request (and every request not drawn) is passed through untouched.

    with FaultProxy(upstream="http://127.0.0.1:8080", rate=0.3) as proxy:
        ... point the client at proxy.url + "/v1" ...
        print(proxy.counts)     # {"429": 3, ..., "pass": 41}: every request, by what it got
        print(proxy.abandoned)  # {"pass": 2}: requests whose client hung up (timed out) first

Fault kinds (ALL_KINDS):
  429            429 with Retry-After: `retry_after` (default 1) and a JSON error body
  500, 503       that status with a JSON error body
  reset          the request is read, then the connection is reset (RST, no byte sent)
  stall          the request is read, nothing is sent for stall_seconds, then the connection closes
  malformed      200, application/json, a body that is not JSON (correct Content-Length)
  short          200 with a Content-Length larger than the body sent (half the upstream's
                 real body), then the connection closes
  empty_choices  200 with a valid completion body whose "choices" is empty
  dribble        the upstream's real answer, its body sent in dribble_chunk-byte pieces with
                 dribble_delay before each (valid, only slow)

Two measuring modes, for the serving tests (both off by default):
  record=True          every passed-through request is kept with its answer in `proxy.records`:
                       {"t", "t_end" (seconds since the proxy started), "method", "path", "status",
                        "request", "response" (the JSON bodies, parsed; None when not JSON)}, so a test
                       can read e.g. llama.cpp's `timings.prompt_n` / `timings.cache_n` per request.
  max_in_flight=C      a server that rejects instead of queueing: a request on a fault path that
                       arrives while C others are in flight at the proxy gets 429 with
                       Retry-After: `retry_after` (counted as "busy"). Every such request is logged in
                       `proxy.in_flight_log` as (t, in_flight, outcome): in_flight the requests it
                       found in flight (itself not counted), outcome "429" or "pass".

One thread per client connection; upstream connections come from a pool of kept-alive ones
(at most `upstream_idle` kept open between requests). Passed-through answers are
de-chunked and sent with Content-Length; HTTP/1.1 keep-alive works both ways.
A client that hangs up while its request is upstream (its timeout) has that upstream
connection closed too, as its own close would have (llama.cpp then cancels the work).

Command line:
    python3 Tests/e2e/faultproxy.py --upstream URL [--rate R] [--kinds a,b] [--seed S]
                                    [--port P] [--stall-seconds X] [--max-in-flight C]
                                    [--retry-after S] [--record FILE]
prints FAULT_PROXY_URL=http://127.0.0.1:PORT on stdout and serves until SIGTERM/SIGINT,
then prints the counts as JSON on stderr (and writes the records, one JSON line each, to
FILE; with --max-in-flight, a last line {"in_flight_log": [...]}).
"""
import argparse
import http.client
import json
import random
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALL_KINDS = ("429", "500", "503", "reset", "stall", "malformed", "short", "empty_choices", "dribble")

MALFORMED_BODY = b'{"choices": [{"text": "unterminated'
EMPTY_CHOICES_BODY = b'{"id":"x","object":"text_completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":0}}'
SHORT_FALLBACK_BODY = (b'{"id":"x","object":"text_completion","choices":[{"index":0,"text":"cut short by faultproxy",'
                       b'"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":5}}')

# Not relayed in either direction: they describe one connection, not the message.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
              "te", "trailer", "trailers", "transfer-encoding", "upgrade", "content-length", "host"}

REASONS = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable"}


class _ClientGone(Exception):
    """The client hung up while the proxy waited for the upstream."""


def _json_or_none(data):
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def _error_body(status):
    message = "rate limited by faultproxy" if status == 429 else "server error injected by faultproxy"
    return json.dumps({"error": {"message": message}}).encode()


class _UpstreamConnection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


class FaultProxy:
    def __init__(self, upstream, rate=0.3, kinds=ALL_KINDS, seed=0, stall_seconds=5.0, dribble_chunk=16,
                 dribble_delay=0.01, fault_paths=("/completions", "/chat/completions"), host="127.0.0.1", port=0,
                 upstream_timeout=600.0, upstream_idle=64, record=False, max_in_flight=None, retry_after=1):
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        kinds = tuple(kinds)
        unknown = [k for k in kinds if k not in ALL_KINDS]
        if unknown or not kinds:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(ALL_KINDS)}")
        self.upstream_host, self.upstream_port = u.hostname, u.port or 80
        self.upstream_netloc = u.netloc
        self.upstream_prefix = u.path.rstrip("/")  # an upstream given as http://host/base keeps its base
        self.rate, self.kinds = float(rate), kinds
        self.stall_seconds, self.dribble_chunk, self.dribble_delay = float(stall_seconds), max(1, int(dribble_chunk)), float(dribble_delay)
        self.fault_paths = tuple(fault_paths)
        self.upstream_timeout = upstream_timeout
        self.upstream_idle = upstream_idle
        if max_in_flight is not None and int(max_in_flight) < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight!r}")
        self.record = bool(record)
        self.max_in_flight = None if max_in_flight is None else int(max_in_flight)
        self.retry_after = f"{retry_after:g}" if isinstance(retry_after, (int, float)) else str(retry_after)
        self.started = time.monotonic()
        self._records = []
        self._in_flight = 0  # requests on fault paths admitted and not yet answered
        self._in_flight_log = []
        self._idle = []  # kept-alive upstream connections, most recently used last
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._counts = {k: 0 for k in (*kinds, "pass")}
        if self.max_in_flight is not None:
            self._counts["busy"] = 0
        self._abandoned = {}
        self._closing = threading.Event()
        self._connections = set()

        self._httpd = _Server((host, port), type("Handler", (_Handler,), {"proxy": self}))
        self.port = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="faultproxy", daemon=True)
        self._thread.start()

    # -- bookkeeping ---------------------------------------------------------------------

    @property
    def counts(self):
        """A snapshot: fault kind -> requests that got it, "pass" -> requests passed through."""
        with self._lock:
            return dict(self._counts)

    @property
    def abandoned(self):
        """A snapshot: fault kind (or "pass") -> requests on fault paths whose client hung up
        (its timeout) while the proxy still waited for the upstream or was sending the answer.
        Such a request failed for the client by timing out, whatever its kind. Only kinds
        that wait for the upstream (pass, short, dribble) appear in practice."""
        with self._lock:
            return dict(self._abandoned)

    @property
    def records(self):
        """A snapshot of the passed-through requests and their answers (record=True), in the
        order they were answered."""
        with self._lock:
            return list(self._records)

    @property
    def in_flight_log(self):
        """A snapshot (max_in_flight mode): (t, in flight on arrival, "429" or "pass") per request."""
        with self._lock:
            return list(self._in_flight_log)

    @property
    def in_flight(self):
        """Requests on fault paths admitted and not yet answered (max_in_flight mode). A request
        leaves this count as its answer starts, before the client can read it."""
        with self._lock:
            return self._in_flight

    def now(self):
        """Seconds since the proxy started: the clock of `records` and `in_flight_log`."""
        return time.monotonic() - self.started

    def _admit(self, path):
        """Max-in-flight mode: whether a request on a fault path may go on (True: it is now in
        flight, and _leave must follow). Requests on other paths are always admitted, uncounted."""
        if self.max_in_flight is None or not path.endswith(self.fault_paths):
            return None
        with self._lock:
            n = self._in_flight
            ok = n < self.max_in_flight
            self._in_flight_log.append((self.now(), n, "pass" if ok else "429"))
            if ok:
                self._in_flight += 1
            else:
                self._counts["busy"] += 1
            return ok

    def _leave(self):
        with self._lock:
            self._in_flight -= 1

    def _keep(self, entry):
        with self._lock:
            self._records.append(entry)

    def _gave_up(self, kind):
        with self._lock:
            key = kind or "pass"
            self._abandoned[key] = self._abandoned.get(key, 0) + 1

    def _draw(self, path):
        """The fault for a request (None: pass through), counted."""
        with self._lock:
            kind = None
            if path.endswith(self.fault_paths) and self._rng.random() < self.rate:
                kind = self._rng.choice(self.kinds)
            key = kind or "pass"
            self._counts[key] = self._counts.get(key, 0) + 1
            return kind

    def _checkout(self):
        """An upstream connection: (connection, whether it is new)."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), False
        return _UpstreamConnection(self.upstream_host, self.upstream_port, timeout=self.upstream_timeout), True

    def _checkin(self, conn):
        with self._lock:
            if len(self._idle) < self.upstream_idle and not self._closing.is_set():
                self._idle.append(conn)
                return
        conn.close()

    def _track(self, sock, add):
        with self._lock:
            (self._connections.add if add else self._connections.discard)(sock)

    def close(self):
        if self._closing.is_set():
            return
        self._closing.set()  # wakes stalls and dribbles
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            conns, idle, self._idle = list(self._connections), self._idle, []
        for c in idle:
            c.close()
        for s in conns:  # idle keep-alive connections wait in a read: end them
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: FaultProxy = None
    head_length = None

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.proxy._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        self.proxy._track(self.connection, False)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, socket.timeout, OSError):
            self.close_connection = True

    def _handle(self):
        body = self._read_body()
        if body is None:
            return
        path = self.path.split("?", 1)[0]
        admitted = self.admitted = self.proxy._admit(path)
        if admitted is False:
            try:
                self._send(429, [("Content-Type", "application/json"), ("Retry-After", self.proxy.retry_after)],
                           json.dumps({"error": {"message": "faultproxy: too many requests in flight"}}).encode())
            except _ClientGone:
                self.close_connection = True
            return
        self.request_body, self.arrived = body, self.proxy.now()
        try:
            kind = self.proxy._draw(path)
            try:
                self._answer(kind, body)
            except _ClientGone:
                self.close_connection = True
                if path.endswith(self.proxy.fault_paths):
                    self.proxy._gave_up(kind)
        finally:
            self._leave()

    def _leave(self):
        """The request stops counting as in flight once (max_in_flight mode): as its answer starts,
        the way a server frees its slot before the client reads the answer. Leaving after the write
        let a client's next request arrive first and find the slot still taken (a 429 no server sends)."""
        if getattr(self, "admitted", None):
            self.admitted = False
            self.proxy._leave()

    def _answer(self, kind, body):
        if kind is None:
            self._pass_through(body)
        elif kind in ("429", "500", "503"):
            status = int(kind)
            extra = [("Retry-After", self.proxy.retry_after)] if status == 429 else []
            self._send(status, [("Content-Type", "application/json"), *extra], _error_body(status))
        elif kind == "reset":
            self._reset()
        elif kind == "stall":
            self.proxy._closing.wait(self.proxy.stall_seconds)
            self.close_connection = True
        elif kind == "malformed":
            self._send(200, [("Content-Type", "application/json")], MALFORMED_BODY)
        elif kind == "empty_choices":
            self._send(200, [("Content-Type", "application/json")], EMPTY_CHOICES_BODY)
        elif kind == "short":
            self._short(body)
        elif kind == "dribble":
            self._dribble(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

    # -- reading -------------------------------------------------------------------------

    def _read_body(self):
        """The request body (de-chunked); None when the client went away mid-body."""
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                parts = []
                while True:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(parts)
                    parts.append(self._read_exact(size))
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self._read_exact(n) if n else b""
        except (ValueError, EOFError, OSError):
            self.close_connection = True
            return None

    def _read_exact(self, n):
        data = self.rfile.read(n)
        if len(data) < n:
            raise EOFError("request body cut short")
        return data

    # -- writing -------------------------------------------------------------------------

    def _head(self, status, headers, length):
        lines = [f"HTTP/1.1 {status} {REASONS.get(status) or http.client.responses.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"Content-Length: {length}")
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(self, status, headers, body, length=None):
        """One write: head and body together (no Nagle/delayed-ACK stalls)."""
        length = len(body) if length is None else length
        self._leave()
        data = self._head(status, headers, length)
        if self.command != "HEAD":
            data += body
        self._write(data)

    def _write(self, data):
        try:
            self.wfile.write(data)
        except OSError:
            raise _ClientGone() from None

    def _reset(self):
        """Closes the connection with an RST: SO_LINGER on with a 0 timeout, then close."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # The rfile holds a reference to the socket: the fd closes only when both are closed.
        try:
            self.rfile.close()
        except OSError:
            pass
        sock.close()

    # -- the upstream --------------------------------------------------------------------

    def _upstream_request(self, body):
        """Forwards the request; returns (status, [(header, value)], body) or None on failure."""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = self.proxy.upstream_netloc
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        path = self.proxy.upstream_prefix + self.path
        while True:
            conn, fresh = self.proxy._checkout()
            try:
                conn.request(self.command, path, body=body or None, headers=headers)
                self._await_upstream(conn)
                r = conn.getresponse()
                data = r.read()
            except _ClientGone:
                conn.close()
                raise
            except (http.client.HTTPException, OSError):
                conn.close()
                if fresh:
                    return None
                continue  # a kept-alive connection the upstream had closed: again on another
            relayed = [(k, v) for k, v in r.getheaders() if k.lower() not in HOP_BY_HOP]
            self.head_length = r.getheader("Content-Length") or len(data)
            if r.will_close:
                conn.close()
            else:
                self.proxy._checkin(conn)
            return r.status, relayed, data

    def _hung_up(self):
        """Whether the client has closed its end (a peek that does not wait)."""
        try:
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def _await_upstream(self, conn):
        """Waits for the upstream to start answering; raises _ClientGone when the client
        hangs up first (its timeout)."""
        client, upstream = self.connection, conn.sock
        watch = [client, upstream]
        deadline = time.monotonic() + self.proxy.upstream_timeout
        while True:
            readable, _, _ = select.select(watch, [], [], 0.5)
            if upstream in readable:
                return
            if time.monotonic() > deadline:
                raise socket.timeout("the upstream did not answer")
            gone = self.proxy._closing.is_set()
            if client in readable:
                gone = gone or self._hung_up()
                watch = [upstream]  # bytes of a pipelined request: wait for the upstream only
            if gone:
                raise _ClientGone()

    def _bad_gateway(self):
        self._send(502, [("Content-Type", "application/json")],
                   json.dumps({"error": {"message": "faultproxy: upstream unreachable"}}).encode())

    def _pass_through(self, body):
        got = self._upstream_request(body)
        if got is None:
            self._bad_gateway()
            return
        status, headers, data = got
        if self.proxy.record:
            self.proxy._keep({"t": self.arrived, "t_end": self.proxy.now(), "method": self.command,
                              "path": self.path.split("?", 1)[0], "status": status,
                              "request": _json_or_none(self.request_body), "response": _json_or_none(data)})
        if self._hung_up():  # gave up just as the upstream answered
            raise _ClientGone()
        # A HEAD answer keeps the upstream's Content-Length (that of the body a GET would get).
        self._send(status, headers, data, length=self.head_length if self.command == "HEAD" else None)

    def _short(self, body):
        got = self._upstream_request(body)
        self.close_connection = True
        if got is not None and got[0] == 200 and len(got[2]) >= 2:
            _, headers, data = got
        else:
            headers, data = [("Content-Type", "application/json")], SHORT_FALLBACK_BODY
        if self._hung_up():
            raise _ClientGone()
        self._send(200, headers, data[: len(data) // 2], length=len(data))

    def _dribble(self, body):
        got = self._upstream_request(body)
        if got is None:
            self._bad_gateway()
            return
        status, headers, data = got
        self._send(status, headers, b"", length=len(data))
        if self.command == "HEAD":
            return
        step = self.proxy.dribble_chunk
        for i in range(0, len(data), step):
            if self.proxy._closing.wait(self.proxy.dribble_delay):
                self.close_connection = True
                return
            if self._hung_up():
                raise _ClientGone()
            self._write(data[i:i + step])


def main(argv=None):
    ap = argparse.ArgumentParser(description="A fault-injecting HTTP proxy for Parley's tests.")
    ap.add_argument("--upstream", required=True, help="the server to forward to, e.g. http://127.0.0.1:8080")
    ap.add_argument("--rate", type=float, default=0.3, help="probability that a completion request gets a fault")
    ap.add_argument("--kinds", default=",".join(ALL_KINDS), help="comma-separated fault kinds (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    ap.add_argument("--stall-seconds", type=float, default=5.0)
    ap.add_argument("--dribble-chunk", type=int, default=16)
    ap.add_argument("--dribble-delay", type=float, default=0.01)
    ap.add_argument("--fault-paths", default="/completions,/chat/completions",
                    help="comma-separated path suffixes that may be faulted")
    ap.add_argument("--max-in-flight", type=int, default=None,
                    help="answer 429 to a request on a fault path that finds this many in flight")
    ap.add_argument("--retry-after", type=float, default=1, help="the Retry-After of the 429s (seconds)")
    ap.add_argument("--record", metavar="FILE", help="write every passed-through request and answer to FILE (JSONL)")
    a = ap.parse_args(argv)
    kinds = tuple(k.strip() for k in a.kinds.split(",") if k.strip())
    try:
        proxy = FaultProxy(a.upstream, rate=a.rate, kinds=kinds, seed=a.seed, port=a.port, stall_seconds=a.stall_seconds,
                           dribble_chunk=a.dribble_chunk, dribble_delay=a.dribble_delay,
                           fault_paths=tuple(p for p in a.fault_paths.split(",") if p), record=bool(a.record),
                           max_in_flight=a.max_in_flight, retry_after=a.retry_after)
    except (ValueError, OSError) as e:
        print(f"faultproxy: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"FAULT_PROXY_URL={proxy.url}", flush=True)
    while not stop.wait(0.5):
        pass
    proxy.close()
    if a.record:
        with open(a.record, "w") as f:
            for r in proxy.records:
                f.write(json.dumps(r) + "\n")
            if proxy.max_in_flight is not None:
                f.write(json.dumps({"in_flight_log": proxy.in_flight_log}) + "\n")
    print(json.dumps(proxy.counts), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
