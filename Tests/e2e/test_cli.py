"""The CLI on bad input, signals, and the dataset files' shape."""
import json, os, signal, subprocess, time
from pathlib import Path

import pytest
from conftest import BIN, ROOT, need, parley, read_jsonl, scripted_config, write_json, write_seeds


def test_version_and_help():
    assert parley("--version", check=True).stdout.strip() == "0.1.0"
    for cmd in (["--help"], ["synth", "--help"], ["validate", "--help"]):
        assert "USAGE" in parley(*cmd, check=True).stdout


def test_validate_names_every_error_with_its_path(tmp_path):
    cfg = write_json(tmp_path / "bad.json", {
        "backends": {"b": {"type": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m", "max_concurency": 4}},
        "roles": {"asker": {"backend": "b", "endpoint": "completion", "max_tokens": "ten"}, "assistant": {"backend": "x"}},
    })
    p = parley("validate", "--config", cfg)
    assert p.returncode != 0
    assert 'roles.asker.max_tokens: expected a positive integer, got "ten"' in p.stderr
    assert 'backends.b.max_concurency: unknown key (did you mean "max_concurrency"?)' in p.stderr
    assert 'roles.assistant.backend: no backend named "x"' in p.stderr


def test_malformed_json_config(tmp_path):
    (tmp_path / "c.json").write_text('{"roles": {')
    p = parley("synth", "--config", tmp_path / "c.json", "--seeds", tmp_path / "none")
    assert p.returncode != 0 and "not valid JSON" in p.stderr and p.stdout == ""


def test_set_overrides_are_validated_too(tmp_path):
    cfg = scripted_config(tmp_path)
    p = parley("validate", "--config", cfg, "--set", "roles.asker.temperature=hot")
    assert p.returncode != 0 and 'roles.asker.temperature: expected a number in 0…5, got "hot"' in p.stderr
    assert parley("validate", "--config", cfg, "--set", "run.concurrency=3").returncode == 0


def test_broken_seed_line_is_reported_and_the_rest_runs(tmp_path):
    cfg = scripted_config(tmp_path)
    seeds = write_seeds(tmp_path, ['{"question": "one?"}', '{"question": ', '{"question": "three?"}'])
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet", check=True)
    summary = json.loads(p.stdout)
    assert summary["finished"] == 2 and summary["invalid_seeds"] == 1
    failures = read_jsonl(tmp_path / "run/failures.jsonl")
    assert len(failures) == 1 and failures[0]["reason"].startswith("seeds line 2: not valid JSON: ")


def test_unreachable_server_retries_then_records_failures(tmp_path):
    cfg = scripted_config(tmp_path, backends={"fake": {
        "type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
        "max_retries": 2, "backoff_base_seconds": 0.05, "timeout_seconds": 2}})
    seeds = write_seeds(tmp_path, ['{"question": "a?"}', '{"question": "b?"}'])
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet")
    assert p.returncode == 1
    assert "every dialogue failed" in p.stderr
    failures = read_jsonl(tmp_path / "run/failures.jsonl")
    assert len(failures) == 2
    assert all("cannot reach http://127.0.0.1:9/v1" in f["reason"] and "after 3 attempts" in f["reason"] for f in failures)
    assert json.loads((tmp_path / "run/summary.json").read_text())["failed"] == 2


def test_refuses_to_mix_configs_unless_fresh(tmp_path):
    cfg = scripted_config(tmp_path)
    seeds = write_seeds(tmp_path, ['{"question": "a?"}'])
    parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet", check=True)
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet", "--set", "turns.max=9")
    assert p.returncode != 0 and "different config" in p.stderr
    parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet", "--set", "turns.max=9", "--fresh", check=True)
    assert read_jsonl(tmp_path / "run/dialogues.jsonl")[0]["turns"] == 9


def test_sigint_stops_cleanly_and_the_run_resumes(tmp_path):
    cfg = scripted_config(tmp_path, backends={"fake": {"type": "scripted", "latency_ms": 20}})
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"q{i}?"}) for i in range(200)])
    args = [BIN, "synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err
    assert json.loads(out)["interrupted"] is True
    done = len(read_jsonl(tmp_path / "run/dialogues.jsonl"))
    assert 0 < done < 200
    p = parley(*args[1:], "--quiet", check=True)
    assert json.loads(p.stdout)["finished"] == 200
    ids = [d["id"] for d in read_jsonl(tmp_path / "run/dialogues.jsonl")]
    assert len(ids) == len(set(ids)) == 200


def test_progress_lines_when_not_a_terminal(tmp_path):
    cfg = scripted_config(tmp_path, backends={"fake": {"type": "scripted", "latency_ms": 30}},
                          run={"concurrency": 4, "progress_seconds": 0.2})
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"q{i}?"}) for i in range(20)])
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", check=True)
    lines = [l for l in p.stderr.splitlines() if "dialogues ·" in l]
    assert lines, p.stderr
    assert "turns/s" in lines[-1] and "tok/s" in lines[-1] and "ETA" in lines[-1] and "failed" in lines[-1]


def test_outputs_load_with_hugging_face_datasets(tmp_path):
    try:
        import datasets
    except ImportError:
        datasets = None
    need(datasets is not None, "the `datasets` package is not installed")
    cfg = scripted_config(tmp_path)
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"q{i}?"}) for i in range(30)] + ['{"topic": "tea"}', "{}"])
    parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet", check=True)
    d = datasets.load_dataset("json", data_files=str(tmp_path / "run/dialogues.jsonl"), split="train")
    assert len(d) == 32 and d[0]["conversations"][0]["from"] == "system"
    m = datasets.load_dataset("json", data_files=str(tmp_path / "run/messages.jsonl"), split="train")
    assert len(m) == 32 and m[0]["messages"][1]["role"] == "user"
