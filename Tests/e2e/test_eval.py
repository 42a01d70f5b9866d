"""`parley eval` end to end: the CLI over the shipped sessions, pairwise from two answer
files, reports compared, SIGKILL mid-evaluation, and the real local model as candidate
and judge (it judges badly; the report must say how many turns it could not score)."""
import json
from pathlib import Path

from conftest import BIN, ROOT, journal_made_once, kill_until_done, parley, read_jsonl, write_json
from test_stats import render

SESSIONS = ROOT / "examples/eval/sessions.jsonl"


def scripted_eval(tmp, **extra):
    cfg = {"backends": {"fake": {"type": "scripted", "words": [4, 12], "latency_ms": 2}},
           "roles": {"candidate": {"backend": "fake", "max_tokens": 64}, "judge": {"backend": "fake", "max_tokens": 32}},
           "run": {"seed": 4, "concurrency": 8}}
    cfg.update(extra)
    return write_json(Path(tmp) / "eval.json", cfg)


def judgments_by_session(run):
    rows = read_jsonl(Path(run) / "dialogues.jsonl")
    return {r["id"]: r["meta"]["judgments"] for r in rows}


def test_answer_judge_and_report(tmp_path):
    cfg = scripted_eval(tmp_path)
    p = parley("eval", "--config", cfg, "--questions", SESSIONS, "--out", tmp_path / "run", "--quiet")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    sessions = [json.loads(l) for l in SESSIONS.read_text().splitlines()]
    assert len(sessions) >= 8 and len({s["category"] for s in sessions}) == 8
    assert all(len(s["turns"]) == 8 for s in sessions)
    assert summary["finished"] == len(sessions) and summary["judged_turns"] == 8 * len(sessions)

    judged = judgments_by_session(tmp_path / "run")
    for s in sessions:
        assert [j["turn"] for j in judged[s["id"]]] == list(range(1, 9))
        assert all(1 <= j["score"] <= 10 and j["raw"] and j["requests"] == 1 for j in judged[s["id"]])
    report = json.loads((tmp_path / "run/report.json").read_text())
    (model,) = report["models"]
    # The report's per-turn means are the means of the judgments in the rows.
    for t in range(1, 9):
        scores = [judged[s["id"]][t - 1]["score"] for s in sessions]
        assert model["per_turn"][str(t)]["mean"] == sum(scores) / len(scores)
        assert model["per_turn"][str(t)]["scored"] == len(sessions)
    assert set(model["per_category"]) == {s["category"] for s in sessions}
    dom, console = render(tmp_path / "run/report.html", tmp_path)
    assert console == [] and 'data-chart="per-turn"' in dom and "<polyline" in dom


def test_pairwise_from_two_answer_files_and_report_of_runs(tmp_path):
    cfg = scripted_eval(tmp_path)
    for seed in (4, 5):
        p = parley("eval", "--config", cfg, "--set", f"run.seed={seed}", "--questions", SESSIONS,
                   "--out", tmp_path / f"run{seed}", "--quiet")
        assert p.returncode == 0, p.stderr
    p = parley("eval", "--config", cfg, "--answers", tmp_path / "run4/dialogues.jsonl", tmp_path / "run5/dialogues.jsonl",
               "--out", tmp_path / "pair", "--quiet")
    assert p.returncode == 0, p.stderr
    rows = read_jsonl(tmp_path / "pair/dialogues.jsonl")
    assert len(rows) == 8
    for r in rows:
        for j in r["meta"]["judgments"]:
            assert len(j["orders"]) == 2 and j["requests"] >= 2
            a, b = j["orders"]
            expected = a if a == b else "inconsistent"
            assert j["verdict"] == (None if "unparsed" in (a, b) else expected)
    (pair,) = json.loads((tmp_path / "pair/report.json").read_text())["pairwise"]
    verdicts = [j["verdict"] for r in rows for j in r["meta"]["judgments"]]
    assert pair["a_wins"] == verdicts.count("a") and pair["ties"] == verdicts.count("tie")
    assert pair["inconsistent"] == verdicts.count("inconsistent")
    assert pair["inconsistency_rate"] == verdicts.count("inconsistent") / 64

    p = parley("eval", "report", tmp_path / "run4", tmp_path / "run5", "--json")
    assert p.returncode == 0, p.stderr
    models = json.loads(p.stdout)["models"]
    assert [m["run"] for m in models] == ["run4", "run5"] and models[0]["overall"]["scored"] == 64


def test_sigkill_mid_evaluation_loses_and_repeats_nothing(tmp_path):
    cfg = scripted_eval(tmp_path, backends={"fake": {"type": "scripted", "words": [4, 12], "latency_ms": 40, "jitter_ms": 20}},
                        run={"seed": 4, "concurrency": 2})
    ref = parley("eval", "--config", cfg, "--questions", SESSIONS, "--out", tmp_path / "reference", "--quiet")
    assert ref.returncode == 0, ref.stderr
    kills = kill_until_done([BIN, "eval", "--config", cfg, "--questions", SESSIONS, "--out", tmp_path / "run", "--quiet"],
                            seed=7, window=(0.15, 0.5))
    assert kills >= 3, "the test must really interrupt the run"
    journal = journal_made_once(tmp_path / "run")
    assert len([e for e in journal if e["t"] == "rec" and "samples" in e["r"]]) == 64, "every turn judged"
    assert judgments_by_session(tmp_path / "run") == judgments_by_session(tmp_path / "reference")
    assert json.loads((tmp_path / "run/report.json").read_text())["models"][0]["overall"] == \
        json.loads((tmp_path / "reference/report.json").read_text())["models"][0]["overall"]
