"""A fleet of two real llama.cpp servers (one CPU thread each) serving one backend.

Affinity: every request of a dialogue goes to one server, whose prompt cache then holds the
dialogue's history; round robin spreads a dialogue's requests over both servers, and each
evaluates again what the other saw. Measured as the prompt tokens the servers really
evaluated (llama.cpp's `timings.prompt_n`, read through recording proxies) on the requests
whose history holds at least one whole exchange (turn 1 costs the same either way).

Failover: a server SIGKILLed mid-run (refused connections) is taken out, its dialogues move
to the other and none fails; restarted on its port, it is probed, taken back and serves
again. Parley talks to the servers directly there: a proxy in front would turn the dead
server into 502s instead of refused connections.

The servers run with --cache-ram 0. llama.cpp's host-memory prompt cache (8 GiB by default)
holds every prompt of this tiny model (about 18 KiB of KV per token), so round robin gets
its misses back from it: measured, affinity then evaluates 0.6-0.75 of round robin's
tokens instead of about 0.3. With a model of production size (hundreds of KiB per token) it
holds a few dialogues only; the slots' own KV caches (4 per server) stay on.

Sizes: PARLEY_FLEET_DIALOGUES (default 4, 8 turns each), PARLEY_FAILOVER_DIALOGUES (20, 2 turns each)."""
import json, os, random, re, signal, socket, subprocess, time, urllib.request

import pytest
from conftest import BIN, ROOT, need_local_model, parley, read_jsonl, start_local_model, stop_local_model, write_json
from conftest import write_seeds
from faultproxy import FaultProxy

DIALOGUES = int(os.environ.get("PARLEY_FLEET_DIALOGUES", "4"))
FAILOVER_DIALOGUES = int(os.environ.get("PARLEY_FAILOVER_DIALOGUES", "20"))
SLOTS = 4
# 4 slots of 1024 tokens: 8 turns of these sizes never need the window to drop an exchange
# (which would change the prompt's prefix and miss the cache whatever the routing).
SERVER = ("--ctx", 4 * 1024, "--parallel", SLOTS, "--threads", 1, "--metrics", "--cache-ram", 0)
# Measured on 2 cores: 0.27 and 0.30 with Parley's routing, 0.25-0.31 in five runs routed by hand
# (dialogue i on server i % 2 vs requests in turn): the bound holds, with little room.
AFFINITY_MAX_RATIO = 1 / 3
NOTE_WORDS = 120  # a note of its own in each dialogue's first message: history that only its server has seen
RESTART_AFTER = 3  # seconds the killed server stays down

ASKER_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. The human asks short "
                "follow-up questions about the assistant's answers, or a new question.")
ASSISTANT_SYSTEM = "The assistant gives helpful, detailed and polite answers to the human's questions."


class Fleet:
    """Local llama.cpp servers that a test may kill and restart on their ports."""

    def __init__(self, n):
        self.servers = [start_local_model(*SERVER) for _ in range(n)]  # (url, pid)

    @property
    def urls(self):
        return [url for url, _ in self.servers]

    def kill(self, i):
        """SIGKILL, then wait until the port refuses connections."""
        url, pid = self.servers[i]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port_of(url)), timeout=1).close()
            except ConnectionRefusedError:
                return
            time.sleep(0.05)
        raise AssertionError(f"{url} still accepts connections after SIGKILL")

    def restart(self, i):
        url, pid = self.servers[i]
        stop_local_model(pid)  # a live one is stopped; a killed one only forgotten
        again = start_local_model(*SERVER, "--port", port_of(url))
        assert again[0] == url
        self.servers[i] = again

    def restart_all(self):
        """Fresh servers on the same ports: empty caches, zeroed /metrics."""
        for i in range(len(self.servers)):
            self.restart(i)

    def metrics(self, i):
        text = urllib.request.urlopen(f"{self.urls[i]}/metrics", timeout=30).read().decode()
        return {k: float(v) for k, v in re.findall(r"^(llamacpp:\w+) (\S+)$", text, re.M)}

    def close(self):
        for _, pid in self.servers:
            stop_local_model(pid)


def port_of(url):
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def fleet():
    need_local_model()
    f = Fleet(2)
    yield f
    f.close()


def fleet_config(path, urls, routing, turns=8, concurrency=4):
    """The shape of examples/configs/local.json (a trained asker on the completion endpoint),
    the assistant on chat, both with short messages; no max_context: the servers' n_ctx."""
    return write_json(path, {
        "backends": {"local": {
            "type": "openai", "model": "gemma-3-270m", "tokenizer": "llamacpp",
            "endpoints": [{"base_url": f"{u}/v1"} for u in urls], "routing": routing,
            "concurrency": "fixed", "max_concurrency": SLOTS, "timeout_seconds": 120,
            "max_retries": 8, "backoff_base_seconds": 0.2, "backoff_max_seconds": 2}},
        "roles": {
            "asker": {"backend": "local", "endpoint": "completion", "template": "human-assistant", "mode": "trained",
                      "system_prompt": ASKER_SYSTEM, "max_tokens": 12, "temperature": 0.7},
            "assistant": {"backend": "local", "endpoint": "chat", "system_prompt": ASSISTANT_SYSTEM, "max_tokens": 16,
                          "temperature": 0.7}},
        # The small model repeats itself: keep going, every dialogue has all its turns.
        "turns": {"max": turns, "stop_on_repeat": False},
        "run": {"seed": 1, "concurrency": concurrency},
        "output": {"formats": ["sharegpt"]},
    })


def note_seeds(path, n):
    rng = random.Random(7)
    words = "river stone garden window music paper winter candle market bridge letter forest kitchen engine".split()
    lines = []
    for i in range(n):
        note = " ".join(rng.choice(words) for _ in range(NOTE_WORDS))
        lines.append(json.dumps({"id": f"d{i}", "question": f"Here is my note {i}: {note}. "
                                                          f"Tell me one fact about the number {i}."}))
    return write_seeds(path, lines)


def exchanges_in(request):
    """Whole exchanges in the history a request carries: the assistant's messages of a chat
    request, the transcript's "Assistant:" turns of a completion request."""
    if "messages" in request:
        return sum(m["role"] == "assistant" for m in request["messages"])
    return str(request.get("prompt", "")).count("Assistant:")


def dialogue_of(request):
    text = json.dumps(request.get("messages") or request.get("prompt"))
    m = re.search(r"my note (\d+):", text)
    return int(m.group(1)) if m else None


def synth_through_recorders(tmp_path, fleet, routing, seeds):
    """One run through a recording proxy per server; returns what the servers did."""
    fleet.restart_all()  # both runs start from empty caches
    proxies = [FaultProxy(url, rate=0, record=True) for url in fleet.urls]
    try:
        out = tmp_path / routing
        out.mkdir()
        cfg = fleet_config(out / "config.json", [p.url for p in proxies], routing)
        start = time.monotonic()
        p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", out / "run", "--quiet", timeout=900)
        wall = time.monotonic() - start
        records = [(i, r) for i, proxy in enumerate(proxies) for r in proxy.records
                   if r["path"].endswith("completions")]
    finally:
        for proxy in proxies:
            proxy.close()
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (out / "run/failures.jsonl").read_text()
    assert all(r["status"] == 200 and r["response"] for _, r in records), "every completion was answered"
    assert all(r["request"].get("cache_prompt") is True for _, r in records), "tokenizer llamacpp: cache_prompt sent"
    late = [r for _, r in records if exchanges_in(r["request"]) >= 1]
    m = {
        "routing": routing, "wall": wall, "summary": summary, "records": records,
        "metrics": [fleet.metrics(i) for i in range(len(fleet.urls))],
        "evaluated_late": sum(r["response"]["timings"]["prompt_n"] for r in late),
        "cached_late": sum(r["response"]["timings"]["cache_n"] for r in late),
        "evaluated": sum(r["response"]["timings"]["prompt_n"] for _, r in records),
        "late_requests": len(late),
        "proxies": [p.url for p in proxies],
    }
    endpoints = {}
    for i, r in records:
        endpoints.setdefault(dialogue_of(r["request"]), set()).add(i)
    m["endpoints_of"] = endpoints
    print(f"\n{routing}: {wall:.1f} s, {len(records)} requests ({len(late)} with history); prompt tokens evaluated on "
          f"those {m['evaluated_late']}, from cache {m['cached_late']}; all requests {m['evaluated']}; "
          f"servers' llamacpp:prompt_tokens_total {[int(x['llamacpp:prompt_tokens_total']) for x in m['metrics']]}")
    return m


def test_affinity_keeps_each_dialogue_in_one_servers_cache(tmp_path, fleet):
    seeds = note_seeds(tmp_path, DIALOGUES)
    aff = synth_through_recorders(tmp_path, fleet, "affinity", seeds)
    rr = synth_through_recorders(tmp_path, fleet, "round_robin", seeds)

    for m in (aff, rr):
        # The servers' own count of evaluated prompt tokens agrees with the recorded timings,
        # and Parley's accounting with the servers' usage.
        total = sum(x["llamacpp:prompt_tokens_total"] for x in m["metrics"])
        assert total == m["evaluated"], (m["routing"], total, m["evaluated"])
        serving = m["summary"]["serving"]["local"]
        usage = [r["response"]["usage"] for _, r in m["records"]]
        assert serving["requests"] == len(m["records"]), (serving["requests"], len(m["records"]))
        assert serving["prompt_tokens"] == sum(u["prompt_tokens"] for u in usage)
        cached = sum(u.get("prompt_tokens_details", {}).get("cached_tokens", 0) for u in usage)
        assert serving["cached_prompt_tokens"] == cached, (serving["cached_prompt_tokens"], cached)
        per_endpoint = [sum(1 for i, _ in m["records"] if i == k) for k in range(2)]
        assert [e["requests"] for e in serving["endpoints"]] == per_endpoint
        assert [e["url"] for e in serving["endpoints"]] == [f"{u}/v1" for u in m["proxies"]]
        assert None not in m["endpoints_of"], "a request whose dialogue cannot be told (its note dropped?)"

    # Affinity: each dialogue on one server, and both servers used; round robin: requests in turn (counts within
    # one). Not "every dialogue on both servers": with 4 dialogues asking in rotation and 2 servers, a dialogue can
    # meet the same server each time (seen once in CI-like runs: {0: {1}, 1: {0}, ...}). An even split alone does
    # not tell round robin from affinity; the evaluated-tokens ratio below does.
    dialogues = [e["dialogues"] for e in aff["summary"]["serving"]["local"]["endpoints"]]
    print(f"affinity: dialogues per endpoint {dialogues}")
    assert sum(dialogues) == DIALOGUES and min(dialogues) >= 1, dialogues
    assert sorted(len(s) for s in aff["endpoints_of"].values()) == [1] * DIALOGUES, aff["endpoints_of"]
    in_turn = [e["requests"] for e in rr["summary"]["serving"]["local"]["endpoints"]]
    assert abs(in_turn[0] - in_turn[1]) <= 1, in_turn

    ratio = aff["evaluated_late"] / rr["evaluated_late"]
    print(f"evaluated prompt tokens on requests with history: affinity {aff['evaluated_late']}, "
          f"round robin {rr['evaluated_late']}, ratio {ratio:.2f} (at most {AFFINITY_MAX_RATIO:.2f}); "
          f"wall {aff['wall']:.1f} s vs {rr['wall']:.1f} s (throughput x{rr['wall'] / aff['wall']:.2f})")
    assert ratio <= AFFINITY_MAX_RATIO, (
        f"affinity evaluated {aff['evaluated_late']} prompt tokens, round robin {rr['evaluated_late']}: "
        f"ratio {ratio:.2f} > {AFFINITY_MAX_RATIO:.2f}")


def ended(run):
    """Dialogues ended so far (the complete lines of both output files)."""
    n = 0
    for name in ("dialogues.jsonl", "filtered.jsonl", "failures.jsonl"):
        try:
            n += (run / name).read_bytes().count(b"\n")
        except FileNotFoundError:
            pass
    return n


def test_a_killed_server_is_taken_out_and_back_without_failing_a_dialogue(tmp_path, fleet):
    """SIGKILL one server when a quarter of the dialogues ended, restart it RESTART_AFTER s later."""
    fleet.restart_all()
    n = FAILOVER_DIALOGUES
    seeds = write_seeds(tmp_path, [json.dumps({"id": f"f{i}", "question": f"Tell me one fact about the number {i}."})
                                   for i in range(n)])
    # Short dialogues, few at a time: many start after the server is back (a dialogue stays where it began).
    cfg = fleet_config(tmp_path / "config.json", fleet.urls, "affinity", turns=2, concurrency=SLOTS)
    run = tmp_path / "run"
    victim = 1
    with open(tmp_path / "stdout", "w") as stdout, open(tmp_path / "stderr", "w") as stderr:
        proc = subprocess.Popen([BIN, "synth", "--config", cfg, "--seeds", seeds, "--out", run, "--quiet"],
                                cwd=ROOT, stdout=stdout, stderr=stderr)
        try:
            began = time.monotonic()
            while ended(run) < n / 4:
                assert proc.poll() is None, f"the run ended before a quarter of it: {(tmp_path / 'stderr').read_text()}"
                assert time.monotonic() - began < 600, "a quarter of the dialogues did not end within 600 s"
                time.sleep(0.05)
            fleet.kill(victim)
            killed = time.monotonic() - began
            at_kill = ended(run)
            time.sleep(RESTART_AFTER)
            fleet.restart(victim)
            restarted = time.monotonic() - began
            at_restart = ended(run)
            rc = proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    took = time.monotonic() - began
    stderr_text = (tmp_path / "stderr").read_text()
    print(f"\nkilled server {victim} at {killed:.1f} s ({at_kill}/{n} ended), restarted at {restarted:.1f} s "
          f"({at_restart}/{n} ended), run done at {took:.1f} s")
    assert rc == 0, stderr_text
    assert at_restart < n, "the run ended before the server came back: nothing left to route to it (more dialogues)"

    summary = json.loads((tmp_path / "stdout").read_text())
    assert summary == json.loads((run / "summary.json").read_text())
    failures = read_jsonl(run / "failures.jsonl")
    assert summary["failed"] == 0 and failures == [], [f["reason"] for f in failures]
    ids = [r["id"] for name in ("dialogues.jsonl", "filtered.jsonl") for r in read_jsonl(run / name)]
    assert sorted(ids) == sorted(f"f{i}" for i in range(n)), "every seed ends exactly once"

    endpoints = {e["url"]: e for e in summary["serving"]["local"]["endpoints"]}
    dead = endpoints[f"{fleet.urls[victim]}/v1"]
    print("endpoints: " + "; ".join(f"{url}: requests {e['requests']}, failures {e['failures']}, dialogues "
                                    f"{e['dialogues']}, circuit_opens {e['circuit_opens']}, healthy {e['healthy']}"
                                    for url, e in endpoints.items()))
    assert dead["circuit_opens"] >= 1, dead
    assert dead["healthy"] is True, "taken back once healthy"
    # The restarted process counts from zero: what it evaluated came after its restart.
    after = fleet.metrics(victim)
    print(f"restarted server: llamacpp:prompt_tokens_total {after['llamacpp:prompt_tokens_total']:.0f}, "
          f"tokens_predicted_total {after['llamacpp:tokens_predicted_total']:.0f}")
    assert after["llamacpp:prompt_tokens_total"] > 0 and after["llamacpp:tokens_predicted_total"] > 0, (
        "no request reached the restarted server")
