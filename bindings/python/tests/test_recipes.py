"""The other recipes run by config through the C ABI: CaPO with a Python model as the
assistant writes its preference pairs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import parley
from conftest import read_jsonl


def test_capo_by_config_with_a_python_model(tmp_path: Path) -> None:
    config = {"recipe": "capo", "backends": {"host": {"type": "host"}},
              "roles": {"assistant": {"backend": "host", "max_tokens": 32}}, "capo": {"strategies": ["neglect"]}}
    dialogue = {"id": "d1", "messages": [
        {"role": "user", "content": "Recommend a novel."}, {"role": "assistant", "content": "Dune."},
        {"role": "user", "content": "Is it long?"}, {"role": "assistant", "content": "About 600 pages."}]}

    def model(request: Dict[str, Any]) -> str:
        assert request["messages"][-1]["content"] == "Is it long?" and len(request["messages"]) == 1  # the history removed
        return "It depends on the edition you mean."

    with parley.Engine(config) as engine:
        engine.set_callback("host", model)
        rows = engine.synthesize([dialogue], out=tmp_path / "run")
    assert [r["id"] for r in rows] == ["d1"]
    (pair,) = read_jsonl(tmp_path / "run/pairs.jsonl")
    assert pair["strategy"] == "neglect" and pair["rejected"] == [{"role": "assistant", "content": "It depends on the edition you mean."}]
    assert pair["chosen"] == [{"role": "assistant", "content": "About 600 pages."}] and len(pair["prompt"]) == 3
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["records"] == {"select": 1, "pair": 1}
