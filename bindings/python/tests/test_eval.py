"""An evaluation (`"recipe": "eval"`) run by config through the C ABI: a Python callback
is both the candidate and the judge; every turn's judgment comes back in the rows."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict

import parley


def test_eval_by_config_with_a_python_candidate_and_judge(tmp_path: Path) -> None:
    config = {
        "recipe": "eval",
        "backends": {"host": {"type": "host", "max_concurrency": 8}},
        "roles": {"candidate": {"backend": "host", "max_tokens": 64}, "judge": {"backend": "host", "max_tokens": 16}},
        "eval": {"reask": 1},
        "run": {"seed": 1, "concurrency": 4},
    }
    sessions = [{"id": f"s{i}", "category": "math", "turns": [f"What is {i} + 1?", "And times two?", "Minus one?"]}
                for i in range(3)]

    def model(request: Dict[str, Any]) -> str:
        if request["role"] == "candidate":
            return f"Answer {request['turn']}."
        prompt = request["messages"][-1]["content"]
        turn = int(re.search(r"up to turn (\d+) of", prompt).group(1))
        return "I cannot decide." if turn == 3 else f"Fine. Rating: [[{turn + 5}]]"

    with parley.Engine(config) as engine:
        engine.set_callback("host", model)
        rows = engine.synthesize(sessions, out=tmp_path / "run")
    assert sorted(r["id"] for r in rows) == ["s0", "s1", "s2"]
    for r in rows:
        scores = [j["score"] for j in r["meta"]["judgments"]]
        assert scores == [6, 7, None]
        assert r["meta"]["judgments"][2]["raw"] == ["I cannot decide."] * 2
    summary = __import__("json").loads((tmp_path / "run/summary.json").read_text())
    assert summary["judged_turns"] == 9 and summary["unscored_turns"] == 3
