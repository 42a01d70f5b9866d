"""Deterministic shards and `parley merge` through the real CLI: shards split the seeds into
disjoint parts whatever the file order; merged shards equal a one-machine run line for line
(with run.concurrency 1 a run writes in seed order, merge's canonical order) for every
recipe; merges that would lose or repeat work are refused with the shard named."""
import json, random, re
from pathlib import Path

import pytest
from conftest import parley, read_jsonl, scripted_config, write_json, write_seeds
from test_eval import SESSIONS, scripted_eval
from test_recipes import recipe_case

FAST = {"type": "scripted", "words": [4, 16], "latency_ms": 1, "jitter_ms": 1}
DATA_FILES = ["dialogues.jsonl", "messages.jsonl", "filtered.jsonl", "failures.jsonl", "pairs.jsonl",
              "pairs_flat.jsonl", "expert.jsonl", "selftalk_selected.jsonl", "report.json"]


def seeds_file(tmp, n=120, name="seeds.jsonl", shuffle=None):
    def seed(i):
        question = {"question": f"Please tell me about question number {i}."}
        return json.dumps({"id": f"s{i}", **question} if i % 2 else question)
    lines = [seed(i) for i in range(n)] + ["not a seed"]
    if shuffle is not None:
        random.Random(shuffle).shuffle(lines)
    return write_seeds(tmp, lines, name)


def ended_ids(run):
    return [r["id"] for f in ("dialogues.jsonl", "filtered.jsonl", "failures.jsonl") for r in read_jsonl(Path(run) / f)]


def seed_of(row):
    return row.get("meta", {}).get("seed_line") or row.get("line")


def test_the_shards_of_every_split_are_disjoint_and_cover_the_seeds(tmp_path):
    cfg = scripted_config(tmp_path, backends={"fake": {"type": "scripted", "words": [2, 4]}}, turns={"max": 1})
    seeds, shuffled = seeds_file(tmp_path, 60), seeds_file(tmp_path, 60, "shuffled.jsonl", shuffle=5)
    questions = {json.loads(l)["question"] for l in seeds.read_text().splitlines() if l.startswith("{")}
    for n in range(1, 9):
        owner = {}
        for k in range(1, n + 1):
            run = tmp_path / f"{k}-of-{n}"
            parley("synth", "--config", cfg, "--seeds", seeds, "--out", run, "--shard", f"{k}/{n}", "--quiet",
                   check=True)
            summary = json.loads((run / "summary.json").read_text())
            assert summary["shard"] == f"{k}/{n}" and summary["seeds"] == len(ended_ids(run))
            for row in read_jsonl(run / "dialogues.jsonl") + read_jsonl(run / "filtered.jsonl"):
                question = row["conversations"][1]["value"]
                assert question not in owner, f"{question} in two shards of {n}"
                owner[question] = k
        assert set(owner) == questions, f"the shards of {n} cover every seed"
        invalid = sum(len(read_jsonl(tmp_path / f"{k}-of-{n}" / "failures.jsonl")) for k in range(1, n + 1))
        assert invalid == 1, "the line that is not a seed is reported by exactly one shard"
        if n in (3, 8):  # the same seed lands in the same shard of a shuffled file
            for k in range(1, n + 1):
                run = tmp_path / f"shuffled-{k}-of-{n}"
                parley("synth", "--config", cfg, "--seeds", shuffled, "--out", run, "--shard", f"{k}/{n}",
                       "--quiet", check=True)
                rows = read_jsonl(run / "dialogues.jsonl") + read_jsonl(run / "filtered.jsonl")
                assert {owner[r["conversations"][1]["value"]] for r in rows} <= {k}


def without_timings(text):
    """The text without what differs between any two runs: measured latencies, the run's own name."""
    return re.sub(r'"run":"[^"]*"', '"run":""', re.sub(r'"latency_ms":\d+', '"latency_ms":0', text))


def recipe_runs(name, tmp):
    """(command, config, seeds flag, seeds) for one recipe on the scripted backend."""
    if name == "parrot":
        filters = {"user_length": {"min": 5, "action": "drop"}, "repeat": {"threshold": 0.9}}
        cfg = scripted_config(tmp, backends={"fake": FAST}, filters=filters, turns={"max": [2, 5], "min": 2})
        return ["synth"], cfg, "--seeds", seeds_file(tmp, 160)
    if name == "eval":
        return ["eval", "run"], scripted_eval(tmp), "--questions", SESSIONS
    cfg, seeds, _ = recipe_case(name, tmp)
    config = json.loads(Path(cfg).read_text())
    config["backends"] = {"fake": FAST}
    return ["synth"], write_json(cfg, config), "--seeds", seeds


@pytest.mark.parametrize("recipe", ["parrot", "capo", "eval", "expert", "selftalk"])
def test_four_merged_shards_equal_a_one_machine_run(tmp_path, recipe):
    command, cfg, flag, seeds = recipe_runs(recipe, tmp_path)
    common = [*command, "--config", cfg, flag, seeds, "--quiet"]
    parley(*common, "--out", tmp_path / "one", "--set", "run.concurrency=1", check=True)
    shards = [tmp_path / f"shard-{k}-of-4" for k in range(1, 5)]
    for k, run in enumerate(shards, 1):
        parley(*common, "--out", run, "--shard", f"{k}/4", "--set", "run.concurrency=8", check=True)
    merge = parley("merge", *shards, "--out", tmp_path / "merged", check=True)
    merged, one = json.loads(merge.stdout), json.loads((tmp_path / "one/summary.json").read_text())
    compared = 0
    for name in DATA_FILES:
        a, b = tmp_path / "one" / name, tmp_path / "merged" / name
        assert a.exists() == b.exists(), name
        if a.exists():
            text = without_timings(a.read_text())
            assert without_timings(b.read_text()) == text, f"{name} differs"
            compared += text.count("\n")
    assert compared >= 8 and (tmp_path / "merged/dialogues.jsonl").stat().st_size > 0
    skip = {"wall_seconds", "output_dir", "shards", "serving", "files"}
    assert {k: v for k, v in merged.items() if k not in skip} == {k: v for k, v in one.items() if k not in skip}
    assert [s["shard"] for s in merged["shards"]] == ["1/4", "2/4", "3/4", "4/4"]
    rows = read_jsonl(tmp_path / "merged/dialogues.jsonl")
    assert [seed_of(r) for r in rows] == sorted(seed_of(r) for r in rows), "seed-line order"


def test_a_merge_that_would_lose_or_repeat_work_is_refused_naming_the_shard(tmp_path):
    cfg = scripted_config(tmp_path, backends={"fake": FAST}, turns={"max": 2})
    seeds = seeds_file(tmp_path, 40)
    runs = {k: tmp_path / f"s{k}" for k in range(1, 4)}
    for k, run in runs.items():
        parley("synth", "--config", cfg, "--seeds", seeds, "--out", run, "--shard", f"{k}/3", "--quiet", check=True)
    out = tmp_path / "merged"

    def refused(*dirs):
        p = parley("merge", *dirs, "--out", out)
        assert p.returncode != 0 and not (out / "summary.json").exists()
        return p.stderr

    assert "shard 3/3 missing" in refused(runs[1], runs[2])
    assert f"shard 2/3 given more than once: {runs[2]}, {runs[2]}" in refused(runs[1], runs[2], runs[2], runs[3])
    other = tmp_path / "other"
    parley("synth", "--config", cfg, "--seeds", seeds, "--out", other, "--shard", "3/3", "--set", "turns.max=3",
           "--quiet", check=True)
    assert f"{other} was made with another config than {runs[1]}" in refused(runs[1], runs[2], other)
    four = tmp_path / "four"
    parley("synth", "--config", cfg, "--seeds", seeds, "--out", four, "--shard", "3/4", "--quiet", check=True)
    assert "shards of different splits" in refused(runs[1], runs[2], four)
    (runs[3] / "summary.json").unlink()  # as a shard killed before its end leaves it
    assert f"{runs[3]} (shard 3/3) is unfinished" in refused(*runs.values())

    parley("synth", "--config", cfg, "--seeds", seeds, "--out", runs[3], "--shard", "3/3", "--quiet", check=True)
    into_shard = parley("merge", *runs.values(), "--out", runs[3] / ".." / "s2")
    assert into_shard.returncode != 0 and "is one of the shards" in into_shard.stderr
    parley("merge", *runs.values(), "--out", out, check=True)
    assert sorted(ended_ids(out)) == sorted(i for run in runs.values() for i in ended_ids(run))
    resumed = parley("synth", "--config", cfg, "--seeds", seeds, "--out", out, "--quiet")
    assert resumed.returncode != 0 and "merged by `parley merge`" in resumed.stderr
    another = parley("synth", "--config", cfg, "--seeds", seeds, "--out", runs[1], "--shard", "2/3", "--quiet")
    assert another.returncode != 0 and "holds shard 1/3; this run is shard 2/3" in another.stderr
