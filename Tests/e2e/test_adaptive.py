"""Adaptive concurrency: each endpoint's limit of requests in flight follows its server.

429 storm: the real llama.cpp server behind a proxy that answers 429 to whatever exceeds C
requests in flight (a server that rejects instead of queueing): the limit comes down to
about C and stays there, few requests after the warm-up get 429, nothing fails.

Queueing server: a fake server that takes everything and slows down past its knee, as vLLM
and llama.cpp do (queueserver.py): no 429 to learn from, only latency; the limit settles
near the knee, far below max_concurrency, and the server never sees more than the limit.

Batching server: the same, but its requests also slow down as more run together below the
knee (llama.cpp on a CPU), while throughput still rises: the latency looks like a queue, the
limit stays near the knee all the same.

Sizes: PARLEY_STORM_DIALOGUES (default 16), PARLEY_QUEUE_DIALOGUES (60)."""
import json, os, urllib.request

from conftest import parley, scripted_config, write_seeds
from faultproxy import FaultProxy
from queueserver import QueueServer

STORM_DIALOGUES = int(os.environ.get("PARLEY_STORM_DIALOGUES", "16"))
STORM_C = 3  # the proxy's requests in flight
STORM_MAX = 16
QUEUE_DIALOGUES = int(os.environ.get("PARLEY_QUEUE_DIALOGUES", "60"))
KNEE, BASE_LATENCY, QUEUE_MAX = 4, 0.1, 32
# A batching server's knee (its slots), per-request slowdown per extra request in its batch, and ceiling.
BATCH_KNEE, SLOWDOWN, BATCH_MAX = 8, 0.35, 16


def step_values(points, start, end):
    """(value, seconds) of a step function given by [t, value] points (each holds until the
    next; the last until `end`), clipped to [start, end]."""
    out = []
    for (t0, v), nxt in zip(points, list(points[1:]) + [[end, None]]):
        a, b = max(t0, start), min(nxt[0], end)
        if b > a:
            out.append((v, b - a))
    return out


def weighted_median(pieces):
    total, acc = sum(w for _, w in pieces), 0
    for v, w in sorted(pieces):
        acc += w
        if acc >= total / 2:
            return v
    return None


def settled_limit(trace, end):
    """The limit the endpoint held over the second half of the run: the time-weighted median
    of its limit trace over [end/2, end] (whether the trace has change points or samples)."""
    assert trace, "an adaptive endpoint reports its limit trace"
    return weighted_median(step_values(trace, end / 2, end)) or trace[-1][1]


def show(trace, n=30):
    """At most n points of a trace, evenly spread, for the log."""
    step = max(1, len(trace) // n)
    shown = trace[::step] + ([trace[-1]] if (len(trace) - 1) % step else [])
    return " ".join(f"{t:.1f}s:{v}" for t, v in shown) + f" ({len(trace)} points)"


def only_endpoint(summary, backend):
    endpoints = summary["serving"][backend]["endpoints"]
    assert len(endpoints) == 1, endpoints
    return endpoints[0]


def warm_up(llama_server):
    """One small completion straight to the server: a cold server's first batch is slow."""
    req = urllib.request.Request(f"{llama_server}/v1/completions", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"prompt": "Human: Hello?\nAssistant:", "max_tokens": 4}).encode())
    urllib.request.urlopen(req, timeout=120).read()


def test_a_429_storm_brings_the_limit_down_to_what_the_server_takes(tmp_path, llama_server):
    warm_up(llama_server)
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"Tell me one fact about the number {i}."})
                                   for i in range(STORM_DIALOGUES)])
    with FaultProxy(llama_server, rate=0, max_in_flight=STORM_C, retry_after=1) as proxy:
        p = parley("synth", "--config", "examples/configs/local.json", "--seeds", seeds, "--out", tmp_path / "run",
                   "--quiet", "--set", f"backends.local.base_url={proxy.url}/v1",
                   "--set", "backends.local.concurrency=adaptive",
                   "--set", f"backends.local.max_concurrency={STORM_MAX}",
                   "--set", "backends.local.max_retries=30", "--set", "backends.local.timeout_seconds=60",
                   "--set", "backends.local.backoff_base_seconds=0.1", "--set", "backends.local.backoff_max_seconds=1",
                   "--set", f"run.concurrency={STORM_MAX}", "--set", "turns.max=3",
                   "--set", "turns.stop_on_repeat=false",
                   "--set", "roles.asker.max_tokens=8", "--set", "roles.assistant.max_tokens=16", timeout=900)
        log, counts = proxy.in_flight_log, proxy.counts
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (tmp_path / "run/failures.jsonl").read_text()

    after = log[len(log) // 5:]  # the first 20% of the requests: the warm-up
    rejected = sum(outcome == "429" for _, _, outcome in after)
    share = rejected / len(after)
    e = only_endpoint(summary, "local")
    settled = settled_limit(e["limit_trace"], summary["wall_seconds"])
    warm = sum(outcome == "429" for _, _, outcome in log[:len(log) // 5])
    print(f"\n{len(log)} requests at the proxy, {counts['busy']} got 429 ({warm} in the warm-up); "
          f"after it {rejected}/{len(after)} = {share:.1%}; {summary['wall_seconds']:.1f} s")
    print(f"limit: final {e['limit']}, settled {settled} (C = {STORM_C}); trace {show(e['limit_trace'])}")
    assert e["concurrency"] == "adaptive" and e["max_limit"] == STORM_MAX, e
    assert e["rate_limited"] == counts["busy"], (
        f"Parley counted {e['rate_limited']} 429s, the proxy sent {counts['busy']}")
    assert share < 0.05, f"after the warm-up {rejected} of {len(after)} requests ({share:.1%}) got 429"
    assert STORM_C - 1 <= e["limit"] <= STORM_C + 2 or STORM_C - 1 <= settled <= STORM_C + 2, (
        f"final limit {e['limit']}, settled {settled}: neither within [{STORM_C - 1}, {STORM_C + 2}]")


def run_against(server, tmp_path, dialogues, ceiling):
    """A synth run against a QueueServer with an adaptive limit of at most `ceiling`; returns the
    limit the endpoint settled at, after checking that the server never held more."""
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"q{i}"}) for i in range(dialogues)])
    cfg = scripted_config(tmp_path,
        backends={"q": {"type": "openai", "base_url": server.url + "/v1", "model": "m", "concurrency": "adaptive",
                        "max_concurrency": ceiling, "timeout_seconds": 30}},
        roles={"asker": {"backend": "q", "endpoint": "completion", "max_tokens": 16},
               "assistant": {"backend": "q", "system_prompt": "Be brief.", "max_tokens": 32}},
        turns={"max": 4}, run={"seed": 3, "concurrency": 2 * ceiling})
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet", timeout=600)
    log, in_flight = server.log, server.trace
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (tmp_path / "run/failures.jsonl").read_text()
    e = only_endpoint(summary, "q")
    wall = summary["wall_seconds"]
    settled = settled_limit(e["limit_trace"], wall)
    # What the server saw over the second half of its own log: requests in flight, time-weighted.
    end = max(x["t_end"] for x in log)
    pieces = step_values(in_flight, end / 2, end)
    seen = sum(v * w for v, w in pieces) / sum(w for _, w in pieces)
    throughput = len(log) / (end - log[0]["t"])
    print(f"\n{len(log)} requests in {wall:.1f} s ({throughput:.0f}/s); limit final {e['limit']}, settled {settled} "
          f"(knee {server.knee:g}, max {ceiling}); in flight at the server over the second half {seen:.1f} on "
          f"average, peak {max(n for _, n in in_flight)}")
    print(f"trace {show(e['limit_trace'])}")
    assert e["concurrency"] == "adaptive" and e["max_limit"] == ceiling, e
    # The server counts a request done before Parley reads its answer: it never sees more than the limit.
    assert seen <= settled + 0.5, f"the server had {seen:.1f} requests in flight on average, the limit was {settled}"
    return settled


def test_the_limit_settles_near_a_queueing_servers_knee(tmp_path):
    with QueueServer(base_latency=BASE_LATENCY, knee=KNEE) as server:
        settled = run_against(server, tmp_path, QUEUE_DIALOGUES, QUEUE_MAX)
    assert settled <= 2 * KNEE + 2 and settled <= QUEUE_MAX / 2, f"settled at {settled}: queueing unseen"
    # Below the knee the server idles: a limit that fell there halves the throughput for nothing.
    assert settled >= KNEE - 1, f"settled at {settled}, below the knee {KNEE}: the server was starved"


def test_a_batching_servers_slowdown_is_not_taken_for_a_queue(tmp_path):
    # 4 at once take 2.05 × the base latency each, 8 take 3.45: latency alone says 3.2 requests wait at 8,
    # over the 3 that cut the limit; but 8 at once serve 19% more requests a second than 4.
    with QueueServer(base_latency=BASE_LATENCY, knee=BATCH_KNEE, slowdown=SLOWDOWN) as server:
        settled = run_against(server, tmp_path, QUEUE_DIALOGUES // 2, BATCH_MAX)
    assert settled >= BATCH_KNEE - 1, f"settled at {settled}, below the knee {BATCH_KNEE}: the batch ran short"
    assert settled <= BATCH_KNEE + 4, f"settled at {settled}: the queue past the knee unseen"
