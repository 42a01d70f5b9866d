"""run.durability: "fsync" really syncs (counted with strace), "process" never does, and an
fsync run killed at random moments resumes to the same dialogues as an uninterrupted one."""
import json, re, shutil, subprocess
from pathlib import Path

from conftest import BIN, ROOT, journal_made_once, kill_until_done, need, parley, read_jsonl, scripted_config, write_seeds

N = 300


def config(tmp_path, durability, latency_ms=4):
    backend = {"type": "scripted", "words": [4, 12], "latency_ms": latency_ms, "jitter_ms": latency_ms / 2}
    return scripted_config(tmp_path, backends={"fake": backend}, run={"seed": 8, "concurrency": 32, "durability": durability})


def seeds(tmp_path):
    return write_seeds(tmp_path, [json.dumps({"question": f"Question {i}?"}) for i in range(N)])


def syncs(tmp_path, durability):
    """fsync/fdatasync calls on the run's journal and dataset files during one whole run, by
    file (strace -y names each call's file; Foundation's atomic writes of run.json and
    summary.json sync too, and are not what durability is about)."""
    cfg = config(tmp_path, durability)
    out = tmp_path / durability
    trace = tmp_path / f"strace-{durability}.txt"
    p = subprocess.run(["strace", "-f", "-y", "-e", "trace=fsync,fdatasync", "-o", trace,
                        BIN, "synth", "--config", cfg, "--seeds", seeds(tmp_path), "--out", out, "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["finished"] == N
    calls = re.findall(r"f(?:data)?sync\(\d+<([^>]*)>\) = 0", trace.read_text())
    counts = {}
    for path in calls:
        counts[Path(path).name] = counts.get(Path(path).name, 0) + 1
    return counts, out


def test_fsync_mode_syncs_in_groups_and_process_mode_never_does(tmp_path):
    need(shutil.which("strace"), "strace is not installed (apt-get install strace)")
    none, process_out = syncs(tmp_path, "process")
    some, fsync_out = syncs(tmp_path, "fsync")
    print(f"\nsyncs by file for {N} dialogues: process {none}, fsync {some}")
    data_files = {"journal.jsonl", "dialogues.jsonl", "messages.jsonl", "filtered.jsonl", "failures.jsonl"}
    assert not data_files & set(none), none
    # Both the journal and the dataset are synced, in groups: far fewer syncs than lines written.
    lines = len(read_jsonl(fsync_out / "journal.jsonl"))
    assert some.get("journal.jsonl", 0) > 0 and some.get("dialogues.jsonl", 0) > 0, some
    assert some["journal.jsonl"] < lines / 2, (some, lines)
    conversations = lambda out: {r["id"]: r["conversations"] for r in read_jsonl(out / "dialogues.jsonl")}
    assert conversations(fsync_out) == conversations(process_out)
    assert N == len([e for e in read_jsonl(fsync_out / "journal.jsonl") if e["t"] == "end"])


def test_an_fsync_run_killed_at_random_moments_resumes_exactly(tmp_path):
    # Slow enough (about 2 s of work) that the kills land while it runs.
    cfg, seeds_path = config(tmp_path, "fsync", latency_ms=25), seeds(tmp_path)
    parley("synth", "--config", cfg, "--seeds", seeds_path, "--out", tmp_path / "reference", "--quiet", check=True)
    run = tmp_path / "crashed"
    kills = kill_until_done([BIN, "synth", "--config", cfg, "--seeds", seeds_path, "--out", run, "--quiet"], seed=77)
    assert kills >= 3, "the test must really interrupt the run"
    rows = read_jsonl(run / "dialogues.jsonl")
    assert len({r["id"] for r in rows}) == len(rows) == N
    reference = {r["id"]: r["conversations"] for r in read_jsonl(tmp_path / "reference/dialogues.jsonl")}
    assert {r["id"]: r["conversations"] for r in rows} == reference
    journal_made_once(run)
