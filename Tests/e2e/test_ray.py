"""parley.ray: shards of one run as Ray tasks on one local Ray cluster (shared by the whole
module: starting one costs seconds), merged at the end. A shard whose worker is SIGKILLed
is retried by Ray and resumes from its journal; the merged output equals a one-machine run."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path

import pytest
from conftest import ROOT, journal_made_once, need, parley, read_jsonl, scripted_config, write_seeds

try:
    import ray
except ImportError:
    ray = None

MERGED = ("dialogues.jsonl", "messages.jsonl", "filtered.jsonl", "failures.jsonl")


@pytest.fixture(scope="module")
def cluster():
    need(ray is not None, "ray is not installed (pip install './bindings/python[ray]')")
    began = time.monotonic()
    ray.init(num_cpus=4, include_dashboard=False, logging_level="ERROR")
    print(f"\nray.init: {time.monotonic() - began:.1f}s")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def masked(path):
    """A file's lines with the measured latencies masked: the only wall-clock field of a row."""
    text = Path(path).read_text() if Path(path).exists() else ""
    return re.sub(r'"latency_ms":\d+', '"latency_ms":_', text).splitlines()


def ended_ids(run):
    files = ("dialogues.jsonl", "filtered.jsonl", "failures.jsonl")
    rows = [r["id"] for name in files for r in read_jsonl(Path(run) / name)]
    assert len(rows) == len(set(rows)), "a dialogue was written twice"
    return rows


def complete_records(path):
    text = Path(path).read_text() if Path(path).exists() else ""
    return [json.loads(line) for line in text.split("\n")[:-1] if line]


def test_a_killed_shard_resumes_and_the_merge_equals_a_one_machine_run(tmp_path, cluster):
    from parley.ray import run as run_on_ray
    n, shards, victim = 1200, 4, 2
    cfg = scripted_config(tmp_path, backends={"fake": {
        "type": "scripted", "words": [4, 16], "latency_ms": 20, "jitter_ms": 10,
        "fail_rate": 0.05, "max_retries": 1, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.02}},
        run={"seed": 11, "concurrency": 4}, filters={"user_length": {"max": 17, "action": "drop"}})
    # Failures (scripted, and an unparsable last line), drops and dialogues: every file has rows.
    lines = [json.dumps({"question": f"Question {i}?"}) for i in range(n - 1)] + ['{"question": ']
    seeds = write_seeds(tmp_path, lines)

    # The one-machine reference: with concurrency 1 its rows are in seed order, merge's order. Without
    # latency, to be quick: the scripted text depends on run.seed and the dialogue only.
    began = time.monotonic()
    parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "reference", "--quiet",
           "--set", "run.concurrency=1", "--set", "backends.fake.latency_ms=0", "--set", "backends.fake.jitter_ms=0",
           check=True)
    reference_seconds = time.monotonic() - began

    out = tmp_path / "sharded"
    victim_dir = out / f"shard-{victim}-of-{shards}"
    killed, seen = {}, []

    def on_progress(snap):
        seen.append(snap)
        s = snap["per_shard"].get(victim)
        if killed or not s or s["attempt"] != 1:
            return
        p = s["progress"]
        if p.get("state") == "running" and p.get("seeds") and p["ended"] >= 0.1 * p["seeds"]:
            os.kill(s["pid"], signal.SIGKILL)
            # The worker is dead and Ray retries only after a while: the journal as the kill left it.
            killed.update(pid=s["pid"], ended=p["ended"], journal=complete_records(victim_dir / "journal.jsonl"))

    began = time.monotonic()
    summary = run_on_ray(cfg, seeds, out, shards, on_progress=on_progress, poll_seconds=0.1)
    took = time.monotonic() - began
    assert killed, "the kill must land while the shard runs"

    # Nothing lost, nothing twice; the counts add up.
    assert summary["finished"] + summary["filtered"] + summary["failed"] == summary["seeds"] == n, summary
    assert summary["finished"] and summary["filtered"] and summary["failed"] >= 2
    ids = ended_ids(out)
    assert len(ids) == n

    # The merge equals the one-machine run, line for line.
    for name in MERGED:
        got, want = masked(out / name), masked(tmp_path / "reference" / name)
        assert want, f"the reference's {name} is empty: the test must exercise it"
        assert got == want, f"{name} differs from the one-machine run"
    reference = json.loads((tmp_path / "reference/summary.json").read_text())
    for key in ("seeds", "finished", "filtered", "failed", "turns", "filters"):
        assert summary[key] == reference[key], key

    # The victim ran twice and resumed: the retry saw the dialogues the first attempt ended, and no
    # dialogue with journaled messages started over (one start record each, no message made twice).
    last = seen[-1]["per_shard"][victim]
    assert last["attempt"] >= 2 and last["pid"] != killed["pid"], last
    assert last["progress"]["resumed"] > 0, last
    assert all(seen[-1]["per_shard"][k]["attempt"] == 1 for k in range(1, shards + 1) if k != victim)
    journal = journal_made_once(victim_dir)
    starts = [e["d"] for e in journal if e["t"] == "start"]
    assert len(starts) == len(set(starts)), "a dialogue started over"
    assert journal[:len(killed["journal"])] == killed["journal"], "the retry appended to the killed attempt's journal"
    def journaled(kind):
        return {e["d"] for e in killed["journal"] if e["t"] == kind}
    cut = (journaled("start") - journaled("end")) & journaled("msg")
    assert cut, "the kill must interrupt dialogues that had journaled messages"
    assert cut <= {e["d"] for e in journal if e["t"] == "end"}, "every interrupted dialogue ended on the retry"
    print(f"\n{n} dialogues in {shards} shards: {took:.1f}s on Ray (shard {victim} killed at {killed['ended']} "
          f"ended, {len(cut)} dialogues cut mid-way); one machine, no latency: {reference_seconds:.1f}s")


def test_the_cli_entry_point(tmp_path, cluster):
    cfg = scripted_config(tmp_path)
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"Q{i}?"}) for i in range(30)])
    out = tmp_path / "run"
    cli = [sys.executable, "-m", "parley.ray", "--config", cfg, "--seeds", seeds, "--out", out, "--shards", "3",
           "--address", cluster, "--num-cpus", "1"]
    p = subprocess.run([str(a) for a in cli], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    summary = json.loads(p.stdout)
    assert summary["finished"] + summary["filtered"] + summary["failed"] == 30 and summary["failed"] == 0
    assert summary == json.loads((out / "summary.json").read_text())
    shard_dirs = sorted(x.name for x in out.iterdir() if x.name.startswith("shard-"))
    assert shard_dirs == [f"shard-{k}-of-3" for k in (1, 2, 3)]
    assert "parley.ray: 30/30 dialogues ended (0 failed)" in p.stderr  # the progress line: stderr is no terminal
    assert len(ended_ids(out)) == 30

    # Again: every shard resumes with nothing left to do; --fresh starts them over; same result.
    for extra in ([], ["--fresh"]):
        p = subprocess.run([str(a) for a in cli + extra + ["--quiet"]], capture_output=True, text=True, timeout=300,
                           cwd=ROOT)
        assert p.returncode == 0, p.stderr[-3000:]
        again = json.loads(p.stdout)
        for key in ("seeds", "finished", "filtered", "failed", "turns"):
            assert again[key] == summary[key], (extra, key)

    # A bad config fails on the driver, before any task, with the config's message.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"roles": {}}))
    p = subprocess.run([str(a) for a in cli[:4] + [bad] + cli[5:]], capture_output=True, text=True, timeout=300,
                       cwd=ROOT)
    assert p.returncode == 1 and p.stderr.startswith("parley.ray: ") and p.stdout == "", p.stderr[-2000:]


def test_two_shards_on_the_local_model(tmp_path, cluster, llama_server):
    from parley.ray import run as run_on_ray
    config = json.loads((ROOT / "examples/configs/local.json").read_text())
    config["backends"]["local"]["base_url"] = f"{llama_server}/v1"
    config["roles"]["asker"]["max_tokens"] = 12
    config["roles"]["assistant"]["max_tokens"] = 16
    config["turns"] = {"max": 2}
    seeds = ROOT / "examples/seeds/demo.jsonl"
    count = len([line for line in seeds.read_text().splitlines() if line.strip()])
    began = time.monotonic()
    summary = run_on_ray(config, seeds, tmp_path / "run", 2, poll_seconds=0.2, on_progress=lambda _: None)
    assert summary["failed"] == 0, (tmp_path / "run/failures.jsonl").read_text()
    assert summary["finished"] + summary["filtered"] == summary["seeds"] == count
    assert summary["completion_tokens"] > 0
    assert len(ended_ids(tmp_path / "run")) == count
    print(f"\n{count} seeds on the local model, 2 shards: {time.monotonic() - began:.1f}s")


def test_a_failing_shard_is_not_retried_and_the_run_resumes_later(tmp_path, cluster):
    """An exception in a task (here: its directory is held by a `parley synth --shard` still
    running) is no system failure: no retry, ShardFailed names the shard, the other shards
    are cancelled resumably; once the holder is gone the same call finishes the run."""
    from parley import StateError
    from parley.ray import ShardFailed, run as run_on_ray
    from conftest import BIN
    cfg = scripted_config(tmp_path, run={"seed": 3, "concurrency": 2})
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"Q{i}?"}) for i in range(40)])
    out = tmp_path / "run"
    # A slow holder (latency is operational: its directory still belongs to the config).
    holder = subprocess.Popen([BIN, "synth", "--config", cfg, "--seeds", seeds, "--out", out / "shard-1-of-2",
                               "--shard", "1/2", "--quiet", "--set", "backends.fake.latency_ms=5000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not complete_records(out / "shard-1-of-2/journal.jsonl")[:1] and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = []
        with pytest.raises(ShardFailed) as failed:
            run_on_ray(cfg, seeds, out, 2, on_progress=seen.append, poll_seconds=0.1)
        assert failed.value.shard == 1 and isinstance(failed.value.cause, StateError), failed.value
        assert all(s["attempt"] == 1 for snap in seen for s in snap["per_shard"].values())
    finally:
        holder.kill()
        holder.wait()
    summary = run_on_ray(cfg, seeds, out, 2, on_progress=lambda _: None, poll_seconds=0.1)
    assert summary["finished"] == summary["seeds"] == 40 and len(ended_ids(out)) == 40
    assert read_jsonl(out / "shard-1-of-2/journal.jsonl")[0]["t"] == "start"  # the holder's journal, resumed
