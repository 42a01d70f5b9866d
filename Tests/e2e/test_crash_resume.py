"""Kill -9 the CLI at random moments, re-run until done: every seed ends exactly once,
every line parses, and the dialogues (personas and filter trims included) equal those
of an uninterrupted run."""
import json
from pathlib import Path

from conftest import BIN, dialogues_by_id as dialogues, journal_made_once, kill_until_done, parley, read_jsonl, scripted_config, write_seeds


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path):
    n = 400
    cfg = scripted_config(tmp_path, backends={"fake": {"type": "scripted", "words": [4, 16], "latency_ms": 25, "jitter_ms": 10}},
                          run={"seed": 5, "concurrency": 48}, personas=["a nurse", "a pilot", "a chef"],
                          filters={"user_length": {"max": 14, "action": "trim"}, "repeat": True})
    lines = [json.dumps({"question": f"Question {i}?"}) for i in range(n - 2)] + ['{"topic": "maps"}', '{"question": ']
    seeds = write_seeds(tmp_path, lines)

    parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "reference", "--quiet", check=True)
    reference = dialogues(tmp_path / "reference")

    run = tmp_path / "crashed"
    kills = kill_until_done([BIN, "synth", "--config", cfg, "--seeds", seeds, "--out", run, "--quiet"], seed=1234)
    print(f"killed {kills} times")
    assert kills >= 4, "the test must really interrupt the run"

    for name in ("dialogues.jsonl", "failures.jsonl", "messages.jsonl", "journal.jsonl"):
        read_jsonl(run / name)  # every line parses
    got = dialogues(run)
    failures = read_jsonl(run / "failures.jsonl")
    ended = list(got) + [f["id"] for f in failures]
    assert len(ended) == len(set(ended)) == n, "every seed ends exactly once"
    assert got == reference
    assert len(failures) == 1 and failures[0]["reason"].startswith(f"seeds line {n}: not valid JSON: ")
    journal_made_once(run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["finished"] == n - 1 and summary["failed"] == 1
    # Filter decisions survive the kills: the same trims, counted once each.
    expected = json.loads((tmp_path / "reference/summary.json").read_text())
    assert summary["filters"] == expected["filters"] and summary["filters"]["user_length"]["trim"] > 0
    assert summary["turns"] == expected["turns"]
