"""run.budget (scripted backend): a run never spends more than its budget of prompt tokens,
completion tokens or cost; stopped by it, it exits 3 with "stopped": "budget", and the same
command with a larger budget resumes it to exactly the dialogues of a run without one."""
import json

import pytest
from conftest import journal_made_once, parley, read_jsonl, scripted_config, write_seeds

SEEDS = 400
PRICES = {"fake": {"input": 2.0, "cached_input": 1.0, "output": 8.0}}  # per million tokens; "fake": the backend's name
SPENT = {"max_prompt_tokens": "prompt_tokens", "max_completion_tokens": "completion_tokens", "max_cost": "cost"}


def cost(prompt, completion):
    return (prompt * PRICES["fake"]["input"] + completion * PRICES["fake"]["output"]) / 1e6


def amount(kind, prompt, completion):
    return {"max_prompt_tokens": prompt, "max_completion_tokens": completion,
            "max_cost": cost(prompt, completion)}[kind]


def rows_of(run):
    return read_jsonl(run / "dialogues.jsonl") + read_jsonl(run / "filtered.jsonl")


def row_tokens(rows):
    generated = [g for r in rows for g in r["meta"]["generation"] if g["role"]]
    return sum(g["prompt_tokens"] for g in generated), sum(g["completion_tokens"] for g in generated)


def comparable(rows):
    """Rows by id, without what differs from run to run (latency)."""
    out = {}
    for r in rows:
        r = json.loads(json.dumps(r))
        for g in r["meta"]["generation"]:
            g.pop("latency_ms", None)
        out[r["id"]] = r
    assert len(out) == len(rows), "a dialogue was written twice"
    return out


def synth(tmp_path, budget, *extra):
    run = {"seed": 11, "concurrency": 32}
    if budget:
        run["budget"] = budget
    cfg = scripted_config(tmp_path, run=run)
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"Question {i}?"}) for i in range(SEEDS)])
    return parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet", *extra)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same seeds without a budget."""
    tmp = tmp_path_factory.mktemp("reference")
    p = synth(tmp, None)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert "budget" not in summary and "stopped" not in summary
    return summary, rows_of(tmp / "run")


@pytest.mark.parametrize("kind", list(SPENT))
def test_a_budget_stops_the_run_and_a_larger_one_resumes_it(tmp_path, reference, kind):
    ref_summary, ref_rows = reference
    whole = amount(kind, ref_summary["prompt_tokens"], ref_summary["completion_tokens"])
    limit = whole / 3 if kind == "max_cost" else int(whole // 3)
    budget = {kind: limit, "prices": PRICES}

    p = synth(tmp_path, budget)
    assert p.returncode == 3, f"exit {p.returncode}: {p.stderr}"
    summary = json.loads(p.stdout)
    assert summary == json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["stopped"] == "budget" and summary["failed"] == 0, summary
    b = summary["budget"]
    assert b["exhausted"] is True and b[kind] == limit, b
    rows = rows_of(tmp_path / "run")
    in_rows = amount(kind, *row_tokens(rows))
    in_summary = amount(kind, summary["prompt_tokens"], summary["completion_tokens"])
    print(f"\n{kind} {limit:g} of a whole run's {whole:g}: spent {b[SPENT[kind]]:g} (summary {in_summary:g}), "
          f"{in_rows:g} in the {len(rows)} dialogues written of {SEEDS}")
    assert b[SPENT[kind]] <= limit and in_summary <= limit + 1e-9 and in_rows <= limit + 1e-9
    # What was written is part of what was spent (the rest: messages of dialogues not ended yet).
    assert b["prompt_tokens"] >= summary["prompt_tokens"] and b["completion_tokens"] >= summary["completion_tokens"]
    assert b["cost"] == pytest.approx(cost(b["prompt_tokens"], b["completion_tokens"]))
    assert b[SPENT[kind]] >= limit / 2, "the budget was hardly used: the run stopped too early"
    assert len(rows) < SEEDS

    p = synth(tmp_path, budget, "--set", f"run.budget.{kind}={json.dumps(limit * 100)}")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert "stopped" not in summary and summary["budget"]["exhausted"] is False, summary.get("budget")
    assert summary["finished"] + summary["filtered"] == SEEDS and summary["failed"] == 0
    got, want = comparable(rows_of(tmp_path / "run")), comparable(ref_rows)
    assert sorted(got) == sorted(want), "the same dialogues end"
    differ = [i for i in want if got[i] != want[i]]
    assert not differ, (f"{len(differ)} dialogues differ from the unbudgeted run's, "
                        f"e.g. {got[differ[0]]} vs {want[differ[0]]}")
    journal_made_once(tmp_path / "run")
