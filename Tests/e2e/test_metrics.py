"""Live metrics (`--metrics-port`, `run.metrics`): scraped over HTTP while a run goes, parsed
with prometheus_client's text-format parser, and held to summary.json at the end and to the
counts of the servers the run talked to."""
import json, re, signal, socket, subprocess, time, urllib.error, urllib.request
from pathlib import Path

import pytest
from conftest import BIN, ROOT, parley, read_jsonl, scripted_config, write_json, write_seeds
from faultproxy import FaultProxy
from queueserver import QueueServer

parser = pytest.importorskip("prometheus_client.parser")
SESSIONS = ROOT / "examples/eval/sessions.jsonl"


def parse(text):
    """{(sample name, ((label, value), ...)): value} of a text exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in parser.text_string_to_metric_families(text) for s in family.samples}


def by(samples, name, label):
    """The samples of `name`, by the value of `label`."""
    return {dict(labels)[label]: v for (n, labels), v in samples.items() if n == name}


def one(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def start(args):
    """Starts `parley ARGS --metrics-port 0`; returns the process and the URL it reported."""
    p = subprocess.Popen([BIN, *map(str, args), "--quiet", "--metrics-port", "0"], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stderr.readline()
    found = re.search(r"metrics at (http://127\.0\.0\.1:\d+/metrics)", line)
    assert found, f"no metrics URL on stderr: {line!r}"
    return p, found.group(1)


def scrape_until_exit(p, url, every=0.1):
    """Scrapes until the process exits; returns the parsed scrapes."""
    scrapes = []
    while p.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                scrapes.append(parse(r.read().decode()))
        except (urllib.error.URLError, ConnectionError):
            assert p.poll() is not None or p.wait(timeout=30) is not None, "the endpoint went away mid-run"
        time.sleep(every)
    return scrapes


def check_scrape(s, previous, concurrency):
    """What holds at any instant: every seed in exactly one state, no more requests out than
    dialogues may be, counters and histograms never going down. (A server may have more in
    flight than its limit for a moment: a lowered limit lets the requests out drain.)"""
    states = by(s, "parley_dialogues", "state")
    assert set(states) == {"pending", "running", "finished", "filtered", "failed"}
    assert sum(states.values()) == one(s, "parley_seeds"), states
    assert states["running"] <= concurrency
    assert sum(by(s, "parley_requests_in_flight", "url").values()) <= concurrency
    for key, v in previous.items():
        if key[0].endswith(("_total", "_bucket", "_count", "_sum")):
            assert s.get(key, 0) >= v, f"{key} went down: {v} -> {s.get(key)}"


def check_final(s, summary):
    """The run's last exposition against its summary.json."""
    assert by(s, "parley_dialogues", "state") == {
        "pending": 0, "running": 0, "finished": summary["finished"], "filtered": summary["filtered"],
        "failed": summary["failed"]}
    assert one(s, "parley_turns_total") == summary["turns"]
    assert one(s, "parley_generated_messages_total") == summary["generated_messages"]
    assert by(s, "parley_end_reasons_total", "reason") == summary["end_reasons"]
    assert by(s, "parley_dialogue_failures_total", "reason") == summary["failure_reasons"]
    for backend, b in summary["serving"].items():
        for e in b["endpoints"]:
            server = {"backend": backend, "url": e["url"]}
            assert one(s, "parley_requests_total", **server) == e["requests"]
            kinds = {dict(l)["kind"]: v for (n, l), v in s.items()
                     if n == "parley_request_failures_total" and dict(l)["url"] == e["url"]}
            assert kinds == e["failure_kinds"] and sum(kinds.values()) == e["failures"]
            for kind in ("prompt", "cached_prompt", "completion"):
                assert one(s, "parley_tokens_total", kind=kind, **server) == e[kind + "_tokens"]
            assert one(s, "parley_circuit_opens_total", **server) == e["circuit_opens"]
            assert one(s, "parley_concurrency_limit", **server) == e["limit"]
            answered = e["requests"] - e["failures"]
            assert one(s, "parley_request_duration_seconds_count", **server) == answered


def test_scraped_during_a_run_through_faults_and_equal_to_the_summary_and_the_server(tmp_path):
    """A real OpenAI-style server behind the fault proxy (429s, 503s, resets, malformed bodies):
    the failures by kind are the proxy's faults, the requests are what the proxy saw."""
    faults = ("429", "503", "reset", "malformed")
    with QueueServer(base_latency=0.03, knee=8) as server, \
            FaultProxy(upstream=server.url, rate=0.15, kinds=faults, seed=5, retry_after=0, record=True) as proxy:
        cfg = scripted_config(
            tmp_path,
            backends={"srv": {"type": "openai", "base_url": proxy.url + "/v1", "model": "m", "max_retries": 10,
                              "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05}},
            roles={"asker": {"backend": "srv", "endpoint": "completion", "max_tokens": 16},
                   "assistant": {"backend": "srv", "system_prompt": "Be brief.", "max_tokens": 16}},
            turns={"max": 3}, run={"seed": 1, "concurrency": 8})
        seeds = write_seeds(tmp_path, [json.dumps({"question": f"Question {i}?"}) for i in range(60)])
        p, url = start(["synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run"])
        scrapes = scrape_until_exit(p, url)
        _, err = p.communicate(timeout=60)
        counts = proxy.counts
        records = proxy.records
    assert p.returncode == 0, err
    assert len(scrapes) >= 5, f"the run should last long enough to be scraped ({len(scrapes)} scrapes)"
    previous = {}
    for s in scrapes:
        check_scrape(s, previous, concurrency=8)
        previous = s
    mid_run = [s for s in scrapes if 0 < one(s, "parley_dialogues", state="finished") < 60]
    assert mid_run and any(one(s, "parley_dialogues", state="running") > 0 for s in mid_run)
    assert any(one(s, "parley_requests_in_flight", backend="srv", url=proxy.url + "/v1") > 0 for s in scrapes)

    summary = json.loads((tmp_path / "run/summary.json").read_text())
    final = parse((tmp_path / "run/metrics.prom").read_text())
    check_final(final, summary)
    assert summary["finished"] == 60
    # The proxy's own books: every completion request it answered, and every fault it made, once.
    server = {"backend": "srv", "url": proxy.url + "/v1"}
    answered = [r for r in records if r["path"].endswith("/completions")]  # not /props, /v1/models
    assert one(final, "parley_requests_total", **server) == len(answered) + sum(counts[k] for k in faults)
    failures = by(final, "parley_request_failures_total", "kind")
    assert failures.get("HTTP 429", 0) == counts["429"] > 0
    assert failures.get("HTTP 503", 0) == counts["503"] > 0
    assert sum(failures.values()) == sum(counts[k] for k in faults)


def test_a_resumed_evaluation_counts_the_whole_run(tmp_path):
    """Eval with --metrics-port, interrupted and resumed: the resumed run's counters start from
    what the first one wrote and end equal to the whole run's summary."""
    cfg = write_json(tmp_path / "eval.json", {
        "backends": {"fake": {"type": "scripted", "words": [4, 12], "latency_ms": 30, "jitter_ms": 10}},
        "roles": {"candidate": {"backend": "fake", "max_tokens": 64}, "judge": {"backend": "fake", "max_tokens": 32}},
        "run": {"seed": 4, "concurrency": 2}})
    args = ["eval", "--config", cfg, "--questions", SESSIONS, "--out", tmp_path / "run"]
    p, url = start(args)
    finished = 0
    while finished < 2:
        assert p.poll() is None, "the evaluation ended before it could be interrupted"
        finished = one(parse(urllib.request.urlopen(url, timeout=5).read().decode()), "parley_dialogues",
                       state="finished")
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    first = json.loads((tmp_path / "run/summary.json").read_text())
    assert first["interrupted"] and 2 <= first["finished"] < 8

    p, url = start(args)
    resumed = parse(urllib.request.urlopen(url, timeout=5).read().decode())
    assert one(resumed, "parley_dialogues", state="finished") >= first["finished"]
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["finished"] == 8 and not summary["interrupted"]
    check_final(parse((tmp_path / "run/metrics.prom").read_text()), summary)


def test_a_port_in_use_is_named_and_loses_nothing(tmp_path):
    cfg = scripted_config(tmp_path)
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"Question {i}?"}) for i in range(20)])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet",
                   "--metrics-port", port)
    assert p.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port} (run.metrics)" in p.stderr, p.stderr
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet")
    assert p.returncode == 0, p.stderr
    assert len(read_jsonl(tmp_path / "run/dialogues.jsonl")) == json.loads(p.stdout)["finished"] == 20
    assert not (tmp_path / "run/metrics.prom").exists(), "no metrics.prom from a run without metrics"


def test_the_config_field_is_checked_with_its_path(tmp_path):
    cfg = scripted_config(tmp_path, run={"metrics": {"host": "127.0.0.1", "prot": 9}})
    p = parley("validate", "--config", cfg)
    assert p.returncode == 1
    assert "run.metrics.port: missing" in p.stderr and 'run.metrics.prot: unknown key (did you mean "port"?)' in p.stderr
    p = parley("synth", "--config", scripted_config(tmp_path), "--seeds", "x.jsonl", "--metrics-port", "70000")
    assert p.returncode != 0 and "--metrics-port: expected a port in 0…65535, got 70000" in p.stderr
