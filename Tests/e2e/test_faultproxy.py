"""The fault-injecting proxy itself (Tests/e2e/faultproxy.py), against a tiny stdlib upstream,
seen from raw clients. Needs nothing but Python (not even the parley binary)."""
import http.client, json, socket, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from conftest import serve_http, stop_http
from faultproxy import ALL_KINDS, FaultProxy


@pytest.fixture(autouse=True)
def binary_exists():
    """Overrides conftest's: these tests do not run parley."""


COMPLETION = {"id": "cmpl-1", "object": "text_completion", "model": "tiny-1",
              "choices": [{"index": 0, "text": " Paris is the capital of France, and a fine city to visit in spring.",
                           "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 12, "completion_tokens": 17}}
BODY = json.dumps(COMPLETION).encode()


class Upstream:
    """/v1/completions and /v1/chat/completions answer COMPLETION; /health {"status":"ok"};
    records (path, body, Host header) of every request."""

    def __init__(self, chunked=False):
        self.requests = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def reply(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Upstream", "tiny")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(data), 7):
                        part = data[i:i + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def do_GET(self):
                upstream.requests.append((self.path, b"", self.headers["Host"]))
                if self.path == "/health":
                    self.reply(200, b'{"status":"ok"}')
                else:
                    self.reply(404, b'{"error":{"message":"not found"}}')

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                upstream.requests.append((self.path, body, self.headers["Host"]))
                if self.path.endswith("/completions"):
                    self.reply(200, BODY)
                else:
                    self.reply(200, json.dumps({"echo": json.loads(body)}).encode())

        self.httpd = serve_http(Handler)
        self.url = self.httpd.url

    def close(self):
        stop_http(self.httpd)


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.close()


def connect(proxy, timeout=5):
    return http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)


def post(conn, path="/v1/completions", payload=None):
    conn.request("POST", path, body=json.dumps(payload or {"prompt": "Human: hi\nAssistant:", "max_tokens": 8}),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r, r.read()


def raw_request(proxy, path="/v1/completions", body=b'{"prompt":"hi"}'):
    """A socket that has sent one POST."""
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (path.encode(), len(body), body))
    return s


def read_all(s):
    data = b""
    while True:
        part = s.recv(65536)
        if not part:
            return data
        data += part


def one_kind(upstream, kind, **kw):
    return FaultProxy(upstream=upstream.url, rate=1, kinds=(kind,), seed=0, **kw)


@pytest.mark.parametrize("kind,status", [("429", 429), ("500", 500), ("503", 503)])
def test_status_faults(upstream, kind, status):
    with one_kind(upstream, kind) as proxy:
        conn = connect(proxy)
        r, body = post(conn)
        assert r.status == status
        assert json.loads(body)["error"]["message"]
        assert r.getheader("Retry-After") == ("1" if status == 429 else None)
        if status == 429:
            assert json.loads(body) == {"error": {"message": "rate limited by faultproxy"}}
        # The connection stays usable (keep-alive) and the upstream was never asked.
        r, body = post(conn)
        assert r.status == status
        assert upstream.requests == []
        assert proxy.counts == {kind: 2, "pass": 0}


def test_reset(upstream):
    with one_kind(upstream, "reset") as proxy:
        s = raw_request(proxy)
        try:
            got = s.recv(65536)
        except ConnectionResetError:
            got = None  # the RST itself
        assert got in (None, b""), f"a reset sends no byte, got {got!r}"
        # http.client sees it as a reset or a connection closed before any reply.
        conn = connect(proxy)
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
            post(conn)
        assert proxy.counts["reset"] == 2 and upstream.requests == []


def test_reset_is_an_rst_not_a_fin(upstream):
    with one_kind(upstream, "reset") as proxy:
        s = raw_request(proxy)
        time.sleep(0.2)  # the RST has arrived; a further read reports it
        with pytest.raises(ConnectionResetError):
            s.recv(65536)
            s.recv(65536)


def test_stall(upstream):
    with one_kind(upstream, "stall", stall_seconds=0.5) as proxy:
        s = raw_request(proxy)
        s.settimeout(0.35)
        start = time.monotonic()
        with pytest.raises(socket.timeout):
            s.recv(65536)  # nothing within the stall
        s.settimeout(5)
        assert read_all(s) == b"", "a stall ends with the connection closed, no byte sent"
        assert 0.45 <= time.monotonic() - start < 3
        assert proxy.counts["stall"] == 1 and upstream.requests == []


def test_malformed(upstream):
    with one_kind(upstream, "malformed") as proxy:
        r, body = post(connect(proxy))
        assert r.status == 200 and r.getheader("Content-Type") == "application/json"
        assert int(r.getheader("Content-Length")) == len(body) > 0
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)


def test_short(upstream):
    with one_kind(upstream, "short") as proxy:
        s = raw_request(proxy)
        data = read_all(s)  # the proxy closes after the partial body
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(next(l.split(b":", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")))
        assert length == len(BODY), "the promised length is the real upstream body's"
        assert 0 < len(body) < length and BODY.startswith(body)
        # http.client notices the body is shorter than promised.
        with pytest.raises(http.client.IncompleteRead):
            post(connect(proxy))
        assert proxy.counts["short"] == 2


def test_empty_choices(upstream):
    with one_kind(upstream, "empty_choices") as proxy:
        r, body = post(connect(proxy), "/v1/chat/completions")
        assert r.status == 200
        reply = json.loads(body)
        assert reply["choices"] == [] and reply["usage"] == {"prompt_tokens": 1, "completion_tokens": 0}


@pytest.mark.parametrize("chunked_upstream", [False, True])
def test_dribble(chunked_upstream):
    upstream = Upstream(chunked=chunked_upstream)
    try:
        chunk, delay = 16, 0.01
        with one_kind(upstream, "dribble", dribble_chunk=chunk, dribble_delay=delay) as proxy:
            conn = connect(proxy)
            for _ in range(2):  # valid, and the connection is kept alive
                start = time.monotonic()
                r, body = post(conn)
                took = time.monotonic() - start
                assert r.status == 200 and body == BODY
                assert r.getheader("Content-Length") == str(len(BODY)) and r.getheader("X-Upstream") == "tiny"
                n_chunks = -(-len(BODY) // chunk)
                assert took >= n_chunks * delay, (took, n_chunks)
            assert proxy.counts == {"dribble": 2, "pass": 0} and len(upstream.requests) == 2
    finally:
        upstream.close()


@pytest.mark.parametrize("chunked_upstream", [False, True])
def test_rate_zero_passes_through_with_keep_alive(chunked_upstream):
    upstream = Upstream(chunked=chunked_upstream)
    try:
        with FaultProxy(upstream=upstream.url, rate=0) as proxy:
            conn = connect(proxy)
            r1, b1 = post(conn)
            sock = conn.sock
            r2, b2 = post(conn, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
            assert conn.sock is sock and sock is not None, "both requests went over one connection"
            assert r1.status == r2.status == 200 and b1 == b2 == BODY
            assert r1.getheader("Content-Length") == str(len(BODY)) and r1.getheader("Transfer-Encoding") is None
            conn.request("GET", "/health")
            r3 = conn.getresponse()
            assert r3.status == 200 and json.loads(r3.read()) == {"status": "ok"} and conn.sock is sock
            # Method, path, body forwarded; Host fixed to the upstream's.
            assert [p for p, _, _ in upstream.requests] == ["/v1/completions", "/v1/chat/completions", "/health"]
            assert json.loads(upstream.requests[1][1]) == {"messages": [{"role": "user", "content": "hi"}]}
            assert all(h == upstream.url.removeprefix("http://") for _, _, h in upstream.requests)
            assert sum(proxy.counts.values()) == proxy.counts["pass"] == 3
    finally:
        upstream.close()


def test_untouched_paths_are_never_faulted(upstream):
    with FaultProxy(upstream=upstream.url, rate=1) as proxy:
        conn = connect(proxy)
        for _ in range(10):
            conn.request("GET", "/health")
            r = conn.getresponse()
            assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}
            for path in ("/tokenize", "/apply-template", "/props"):
                r, body = post(conn, path, {"content": "hi"})
                assert r.status == 200 and json.loads(body) == {"echo": {"content": "hi"}}
            conn.request("GET", "/v1/models")
            r = conn.getresponse()
            assert r.status == 404 and r.read()
        assert proxy.counts == {**{k: 0 for k in ALL_KINDS}, "pass": 50}


def test_counts_add_up_and_the_draw_is_seeded(upstream):
    def run(seed):
        with FaultProxy(upstream=upstream.url, rate=0.5, kinds=("500", "503", "malformed", "empty_choices"),
                        seed=seed) as proxy:
            conn = connect(proxy)
            seen = []
            for i in range(40):
                r, body = post(conn, "/v1/completions" if i % 2 else "/v1/chat/completions")
                seen.append((r.status, body))
            for _ in range(5):
                post(conn, "/tokenize")
            counts = proxy.counts
        assert sum(counts.values()) == 45
        assert counts["pass"] >= 5 and counts["500"] + counts["503"] + counts["malformed"] + counts["empty_choices"] > 0
        return counts, seen
    assert run(3) == run(3), "the same seed draws the same faults"


def test_many_concurrent_keep_alive_connections(upstream):
    """64 clients, each with one kept-alive connection, all at once."""
    with FaultProxy(upstream=upstream.url, rate=0.3, kinds=("429", "500", "malformed", "dribble"), seed=1,
                    dribble_delay=0.001) as proxy:
        errors, statuses = [], []

        def client():
            try:
                conn = connect(proxy)
                sock = None
                for _ in range(5):
                    r, body = post(conn)
                    statuses.append(r.status)
                    assert sock is None or conn.sock is sock
                    sock = conn.sock
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        threads = [threading.Thread(target=client) for _ in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors[:3]
        assert len(statuses) == 320 == sum(proxy.counts.values())
        assert statuses.count(429) == proxy.counts["429"] and statuses.count(500) == proxy.counts["500"]


def test_command_line(upstream):
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("faultproxy.py")), "--upstream", upstream.url,
                             "--rate", "1", "--kinds", "503", "--seed", "2", "--stall-seconds", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("FAULT_PROXY_URL=http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        r, _ = post(conn)
        assert r.status == 503
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert json.loads(err.strip().splitlines()[-1]) == {"503": 1, "pass": 1}


def test_a_client_hanging_up_closes_the_upstream_connection():
    """A client that gives up (its timeout) closes the proxy's upstream connection too, as
    its own close would have: llama.cpp's server then cancels the generation."""
    closed = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.connection.settimeout(5)
            try:
                closed.set() if self.connection.recv(1) == b"" else None  # blocks until the proxy hangs up
            except OSError:
                closed.set()
            self.close_connection = True

    httpd = serve_http(Slow)
    try:
        with FaultProxy(upstream=httpd.url, rate=0) as proxy:
            conn = connect(proxy, timeout=0.3)
            with pytest.raises(socket.timeout):
                post(conn)
            conn.close()
            assert closed.wait(3), "the upstream saw the proxy hang up"
            deadline = time.monotonic() + 3
            while not proxy.abandoned and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proxy.abandoned == {"pass": 1} and proxy.counts["pass"] == 1
    finally:
        stop_http(httpd)


def test_a_client_hanging_up_mid_dribble_is_counted(upstream):
    with one_kind(upstream, "dribble", dribble_chunk=8, dribble_delay=0.3) as proxy:
        conn = connect(proxy, timeout=0.2)
        with pytest.raises(socket.timeout):
            post(conn)
        conn.close()
        deadline = time.monotonic() + 3
        while not proxy.abandoned and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.abandoned == {"dribble": 1}


def test_recording_keeps_every_passed_through_pair(upstream):
    """record=True: what the serving tests read llama.cpp's timings from, per request."""
    with FaultProxy(upstream=upstream.url, rate=0, record=True) as proxy:
        conn = connect(proxy)
        post(conn, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
        post(conn, "/tokenize", {"content": "hi"})
        conn.request("GET", "/health")
        conn.getresponse().read()
        records = proxy.records
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("POST", "/v1/chat/completions", 200), ("POST", "/tokenize", 200), ("GET", "/health", 200)]
    assert records[0]["request"] == {"messages": [{"role": "user", "content": "hi"}]}
    assert records[0]["response"] == COMPLETION and records[1]["response"] == {"echo": {"content": "hi"}}
    assert records[2]["request"] is None and records[2]["response"] == {"status": "ok"}
    assert all(0 <= r["t"] <= r["t_end"] for r in records)
    assert [r["t"] for r in records] == sorted(r["t"] for r in records)


def test_faulted_requests_are_not_recorded(upstream):
    with FaultProxy(upstream=upstream.url, rate=1, kinds=("503",), record=True) as proxy:
        conn = connect(proxy)
        assert post(conn)[0].status == 503
        conn.request("GET", "/health")
        conn.getresponse().read()
        assert [r["path"] for r in proxy.records] == ["/health"]


class SlowUpstream:
    """Answers every completion after `seconds` (a server busy generating)."""

    def __init__(self, seconds):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(seconds)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

        self.httpd = serve_http(Handler)
        self.url = self.httpd.url

    def close(self):
        stop_http(self.httpd)


def test_max_in_flight_rejects_what_exceeds_it_with_429():
    """A server that rejects instead of queueing: of 5 requests at once, C=2 pass and 3 get 429
    with the configured Retry-After; other paths are never counted nor rejected; once the two
    are answered there is room again."""
    slow = SlowUpstream(0.5)
    try:
        with FaultProxy(upstream=slow.url, rate=0, max_in_flight=2, retry_after=3) as proxy:
            results = []

            def client():
                r, body = post(connect(proxy))
                results.append((r.status, r.getheader("Retry-After"), body))
            threads = [threading.Thread(target=client) for _ in range(5)]
            for t in threads:
                t.start()
                time.sleep(0.02)  # in order: the first two are in flight before the others arrive
            conn = connect(proxy)
            conn.request("GET", "/health")  # while two are in flight: not a fault path
            assert conn.getresponse().status == 200
            for t in threads:
                t.join(10)
            assert sorted(s for s, _, _ in results) == [200, 200, 429, 429, 429]
            assert all(ra == "3" and json.loads(b)["error"]["message"] for s, ra, b in results if s == 429)
            assert all(b == BODY for s, _, b in results if s == 200)
            log = proxy.in_flight_log
            assert [(n, outcome) for _, n, outcome in log] == [(0, "pass"), (1, "pass"), *[(2, "429")] * 3]
            assert [t for t, _, _ in log] == sorted(t for t, _, _ in log)
            assert proxy.counts == {**{k: 0 for k in ALL_KINDS}, "busy": 3, "pass": 3}
            deadline = time.monotonic() + 3  # the answers reach the clients just before the count drops
            while proxy.in_flight and time.monotonic() < deadline:
                time.sleep(0.01)
            r, body = post(connect(proxy))
            assert r.status == 200 and proxy.in_flight_log[-1][1:] == (0, "pass")
    finally:
        slow.close()


def test_max_in_flight_counts_a_client_that_hung_up_as_gone():
    """A request whose client gave up leaves the in-flight count (no slot leaks)."""
    slow = SlowUpstream(0.6)
    try:
        with FaultProxy(upstream=slow.url, rate=0, max_in_flight=1) as proxy:
            conn = connect(proxy, timeout=0.2)
            with pytest.raises(socket.timeout):
                post(conn)
            conn.close()
            deadline = time.monotonic() + 3
            while (proxy.abandoned != {"pass": 1} or proxy.in_flight) and time.monotonic() < deadline:
                time.sleep(0.01)
            r, _ = post(connect(proxy))
            assert r.status == 200 and [o for _, _, o in proxy.in_flight_log] == ["pass", "pass"]
    finally:
        slow.close()


def test_command_line_max_in_flight_and_record(upstream, tmp_path):
    record = tmp_path / "record.jsonl"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("faultproxy.py")), "--upstream", upstream.url,
                             "--rate", "0", "--max-in-flight", "4", "--retry-after", "2", "--record", str(record)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        assert post(conn)[0].status == 200
        conn.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and json.loads(err.strip().splitlines()[-1])["busy"] == 0
    first, last = [json.loads(line) for line in record.read_text().splitlines()]
    assert first["path"] == "/v1/completions" and first["response"] == COMPLETION
    assert [o for _, _, o in last["in_flight_log"]] == ["pass"]
