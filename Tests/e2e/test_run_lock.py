"""One owner per run directory: a second run on a directory another run holds is refused
at once, naming the holder; a holder killed with SIGKILL leaves nothing locked."""
import json, os, signal, socket, subprocess, time
from pathlib import Path

from conftest import BIN, ROOT, dialogues_by_id, journal_made_once, parley, read_jsonl, scripted_config, write_seeds

N = 2000


def slow_config(tmp_path):
    # ~3 s of work: 2,000 dialogues of a few 5 ms messages, 64 at a time.
    return scripted_config(tmp_path, backends={"fake": {"type": "scripted", "words": [4, 8], "latency_ms": 5}},
                           turns={"max": 3}, run={"seed": 3, "concurrency": 64})


def seeds(tmp_path):
    return write_seeds(tmp_path, [json.dumps({"question": f"Question {i}?"}) for i in range(N)])


def start(cfg, seeds_path, out):
    return subprocess.Popen([BIN, "synth", "--config", cfg, "--seeds", seeds_path, "--out", out, "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_journal(out, proc):
    deadline = time.monotonic() + 30
    while not (Path(out) / "journal.jsonl").exists() or (Path(out) / "journal.jsonl").stat().st_size == 0:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the first run never started writing"
        time.sleep(0.01)


def test_a_second_cli_run_on_a_held_directory_is_refused_at_once(tmp_path):
    cfg, seeds_path = slow_config(tmp_path), seeds(tmp_path)
    parley("synth", "--config", cfg, "--seeds", seeds_path, "--out", tmp_path / "reference", "--quiet", check=True)

    out = tmp_path / "run"
    first = start(cfg, seeds_path, out)
    wait_for_journal(out, first)
    began = time.monotonic()
    second = parley("synth", "--config", cfg, "--seeds", seeds_path, "--out", out, "--quiet", timeout=30)
    took = time.monotonic() - began
    assert first.poll() is None, "the first run must still be running for this test to mean anything"
    assert second.returncode == 1 and took < 5, (second.returncode, took, second.stderr)
    message = second.stderr.strip()
    assert str(out) in message and f"pid {first.pid} on {socket.gethostname()}" in message, message
    # --fresh is refused too, before it deletes anything.
    fresh = parley("synth", "--config", cfg, "--seeds", seeds_path, "--out", out, "--quiet", "--fresh", timeout=30)
    assert fresh.returncode == 1 and "in use by" in fresh.stderr, fresh.stderr

    assert first.wait(timeout=120) == 0, first.stderr.read()
    summary = json.loads(first.stdout.read())
    assert summary["finished"] == N == len(read_jsonl(out / "dialogues.jsonl"))
    assert dialogues_by_id(out) == dialogues_by_id(tmp_path / "reference")
    journal_made_once(out)


def test_a_holder_killed_with_sigkill_leaves_the_directory_free(tmp_path):
    cfg, seeds_path = slow_config(tmp_path), seeds(tmp_path)
    out = tmp_path / "run"
    first = start(cfg, seeds_path, out)
    wait_for_journal(out, first)
    time.sleep(0.3)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (out / "run.lock").exists()  # the file stays; the kernel's lock went with the process
    resumed = parley("synth", "--config", cfg, "--seeds", seeds_path, "--out", out, "--quiet", timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["finished"] == N
    assert len(dialogues_by_id(out)) == N
    journal_made_once(out)
    # The lock file names the last holder.
    assert (out / "run.lock").read_text().startswith("pid ")


def test_a_finished_run_releases_the_directory(tmp_path):
    cfg, seeds_path = slow_config(tmp_path), seeds(tmp_path)
    out = tmp_path / "run"
    for _ in range(2):  # the second run resumes a finished directory: nothing to do, not refused
        p = parley("synth", "--config", cfg, "--seeds", seeds_path, "--out", out, "--quiet", "--set", "run.limit=50")
        assert p.returncode == 0, p.stderr
    assert len(read_jsonl(out / "dialogues.jsonl")) == 50
