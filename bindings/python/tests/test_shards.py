"""Engine.start(shard=...) and parley.merge(): shards are disjoint, cover the seeds, resume,
and merge into the files of a one-shard run."""
from __future__ import annotations

from pathlib import Path

import pytest

import parley
from conftest import fits, questions, read_jsonl, scripted_config

CONFIG = scripted_config(run={"seed": 4, "concurrency": 1})


def test_shards_merge_into_the_one_shard_run(tmp_path: Path) -> None:
    seeds = questions(30)
    with parley.Engine(CONFIG) as engine:
        whole = engine.synthesize(seeds, out=tmp_path / "whole")
        parts = [engine.synthesize(seeds, out=tmp_path / "s1", shard=(1, 3)),
                 engine.synthesize(seeds, out=tmp_path / "s2", shard="2/3"),
                 engine.synthesize(seeds, out=tmp_path / "s3", shard=(3, 3))]
        ids = [r["id"] for rows in parts for r in rows]
        assert len(ids) == len(set(ids)) == 30 and all(parts)
        with engine.start(seeds, out=tmp_path / "s2", shard=(2, 3)) as job:  # done already: all resumed
            job.wait()
            assert job.progress["resumed"] == job.progress["seeds"] == len(parts[1])
    summary = parley.merge([tmp_path / "s3", tmp_path / "s1", tmp_path / "s2"], tmp_path / "merged")
    assert summary["finished"] == 30 and summary["shards"]
    assert fits(summary, parley.RunSummary) and all(fits(s, parley.MergedShard) for s in summary["shards"])
    assert read_jsonl(tmp_path / "merged/dialogues.jsonl") == whole
    with pytest.raises(parley.StateError, match="2/3"):
        parley.merge([tmp_path / "s1", tmp_path / "s3"], tmp_path / "merged2")
    with parley.Engine(CONFIG) as engine, pytest.raises(TypeError):
        engine.start(seeds, shard=(1, 2, 3))  # type: ignore[arg-type]
