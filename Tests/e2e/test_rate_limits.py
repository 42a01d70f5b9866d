"""Per-minute rate limits.

Configured: a scripted backend (much faster than the limit) with tokens_per_minute set runs
at the limit: the tokens of the summary over its wall time are within 5% of it. The number
of seeds comes from an unlimited calibration run, so that the limited run lasts about
PARLEY_RATE_SECONDS (default 20). PARLEY_RATE_LIMITS picks the limits tested (default
tokens_per_minute; also requests_per_minute, input_tokens_per_minute,
output_tokens_per_minute).

Learned: a server announcing x-ratelimit-limit-requests (and remaining) with no limit in the
config: the request rate the server sees after the first second stays within the limit.
PARLEY_HEADER_SECONDS (default 20) sizes that run."""
import json, math, os

import pytest
from conftest import parley, scripted_config, write_seeds
from queueserver import QueueServer

RATE_SECONDS = float(os.environ.get("PARLEY_RATE_SECONDS", "20"))
HEADER_SECONDS = float(os.environ.get("PARLEY_HEADER_SECONDS", "20"))
LIMITS = {"tokens_per_minute": 60000, "input_tokens_per_minute": 50000, "output_tokens_per_minute": 8000,
          "requests_per_minute": 3000}
TESTED = [k for k in os.environ.get("PARLEY_RATE_LIMITS", "tokens_per_minute").split(",") if k]
CALIBRATION_SEEDS = 40
ANNOUNCED_RPM = 300


def spent(summary, kind):
    """What a limit of this kind counts, from a run's summary."""
    if kind == "requests_per_minute":
        return summary["serving"]["fake"]["requests"]
    return {"tokens_per_minute": summary["prompt_tokens"] + summary["completion_tokens"],
            "input_tokens_per_minute": summary["prompt_tokens"],
            "output_tokens_per_minute": summary["completion_tokens"]}[kind]


def synth(tmp_path, name, n, limit=None):
    backend = {"type": "scripted", "words": [4, 16], "latency_ms": 2, "jitter_ms": 2}
    if limit:
        backend.update(limit)
    (tmp_path / name).mkdir()
    cfg = scripted_config(tmp_path / name, backends={"fake": backend})
    seeds = write_seeds(tmp_path / name, [json.dumps({"question": f"Question number {i}?"}) for i in range(n)])
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / name / "run", "--quiet",
               timeout=RATE_SECONDS * 4 + 120)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (tmp_path / name / "run/failures.jsonl").read_text()
    return summary


@pytest.mark.parametrize("kind", TESTED)
def test_a_configured_limit_is_the_rate_of_the_run(tmp_path, kind):
    limit = LIMITS[kind]
    calibration = synth(tmp_path, "calibration", CALIBRATION_SEEDS)
    per_dialogue = spent(calibration, kind) / CALIBRATION_SEEDS
    unlimited = spent(calibration, kind) / max(calibration["wall_seconds"], 1e-3) * 60
    assert unlimited >= 3 * limit, f"the scripted backend alone does only {unlimited:.0f}/min: not rate-bound"
    n = math.ceil(RATE_SECONDS * limit / 60 / per_dialogue)

    summary = synth(tmp_path, "limited", n, {kind: limit})
    wall = summary["wall_seconds"]
    rate = spent(summary, kind) / wall * 60
    print(f"\n{kind} {limit}: {n} dialogues, {spent(summary, kind)} in {wall:.1f} s = {rate:.0f}/min "
          f"({rate / limit - 1:+.1%}); unlimited the backend does {unlimited:.0f}/min")
    assert wall >= RATE_SECONDS / 2, f"the run took {wall:.1f} s: it was not held to the limit"
    assert abs(rate / limit - 1) <= 0.05, f"{rate:.0f}/min against a limit of {limit}/min ({rate / limit - 1:+.1%})"


def test_a_limit_announced_in_headers_is_learned_and_kept(tmp_path):
    """No limit configured; the server says 300 requests a minute (and how many remain), and
    would answer 429 beyond them over its sliding minute."""
    n = math.ceil(HEADER_SECONDS * ANNOUNCED_RPM / 60 / 3)  # 3 requests per dialogue of 2 turns
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"q{i}"}) for i in range(n)])
    with QueueServer(base_latency=0.02, knee=1000, announce_rpm=ANNOUNCED_RPM, enforce=True) as server:
        cfg = scripted_config(tmp_path,
            backends={"api": {"type": "openai", "base_url": server.url + "/v1", "model": "m", "timeout_seconds": 30}},
            roles={"asker": {"backend": "api", "endpoint": "completion", "max_tokens": 16},
                   "assistant": {"backend": "api", "system_prompt": "Be brief.", "max_tokens": 32}},
            turns={"max": 2}, run={"seed": 4, "concurrency": 32})
        p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet",
                   timeout=HEADER_SECONDS * 4 + 120)
        log = server.log
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (tmp_path / "run/failures.jsonl").read_text()
    arrivals = [e["t"] for e in log]
    rejected = sum(e["status"] == 429 for e in log)
    steady = [t for t in arrivals if t >= arrivals[0] + 1]  # the first second: before anything is learned
    span = steady[-1] - steady[0]
    rate = (len(steady) - 1) / span * 60
    per_5s = max(sum(1 for t in steady if s <= t < s + 5) for s in steady) * 12
    print(f"\n{len(log)} requests in {arrivals[-1] - arrivals[0]:.1f} s, {rejected} got 429; after the first second "
          f"{rate:.0f}/min (announced {ANNOUNCED_RPM}/min, {rate / ANNOUNCED_RPM - 1:+.1%}); "
          f"busiest 5 s: {per_5s}/min; "
          f"first second: {len(arrivals) - len(steady)} requests")
    assert span >= HEADER_SECONDS / 2, f"the run took {span:.1f} s: it was not held to the announced limit"
    assert rate <= ANNOUNCED_RPM * 1.05, f"{rate:.0f} requests/min against an announced {ANNOUNCED_RPM}/min"
    assert rate >= ANNOUNCED_RPM * 0.8, f"{rate:.0f} requests/min: far below the announced {ANNOUNCED_RPM}/min"
    (e,) = summary["serving"]["api"]["endpoints"]
    assert e["rate_limited"] == rejected, f"Parley counted {e['rate_limited']} 429s, the server sent {rejected}"
