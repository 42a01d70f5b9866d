"""Parley against the real local llama.cpp server and the small Gemma model, with a
deliberately small context: 4 slots of 512 tokens, dialogues of 8 turns."""
import json, math, os, re, subprocess, time
from pathlib import Path

import pytest
from conftest import BIN, LLAMA_SLOT as SLOT, LOCAL_MODEL as SCRIPT, ROOT, journal_made_once, parley, read_jsonl


def read_jsonl_partial(path):
    """The complete lines of a file another process is appending to."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


def is_json(text):
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("assistant_endpoint", ["completion", "chat"])
def test_eight_turn_dialogues_never_overflow_a_small_slot(tmp_path, llama_server, assistant_endpoint):
    """Completion: the template's parts are counted; chat: the server's chat template,
    measured through /apply-template."""
    run = tmp_path / "run"
    # Three of the demo's seeds, one of each kind (a question, a question with its answer, a topic):
    # every dialogue fills its window whatever their number, and each costs the 2-core CI a minute.
    demo = (ROOT / "examples/seeds/demo.jsonl").read_text().splitlines()
    seed_lines = [demo[0], demo[3], demo[4]]
    (tmp_path / "seeds.jsonl").write_text("\n".join(seed_lines) + "\n")
    p = parley("synth", "--config", "examples/configs/local.json", "--out", run, "--quiet",
               "--seeds", tmp_path / "seeds.jsonl", "--set", f"backends.local.base_url={llama_server}/v1",
               "--set", "turns.max=8", "--set", f"roles.asker.max_context={SLOT}", "--set", f"roles.assistant.max_context={SLOT}",
               "--set", f"roles.assistant.endpoint={assistant_endpoint}",
               # The small model repeats itself; keep going so the windows really fill up.
               "--set", "turns.stop_on_repeat=false",
               timeout=1200)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (run / "failures.jsonl").read_text()
    assert summary["finished"] + summary["filtered"] == len(seed_lines)
    # Whatever the model writes (an empty message ends a dialogue as degenerate), no window overflows.
    ends = {"max_turns", "context_exhausted", "degenerate"}
    assert set(summary["end_reasons"]) <= ends, summary["end_reasons"]
    assert summary["prompt_tokens"] > 0 and summary["completion_tokens"] > 0

    config = json.loads((ROOT / "examples/configs/local.json").read_text())
    rows = read_jsonl(run / "dialogues.jsonl")
    assert rows and all(r["end_reason"] in ends for r in rows)
    longest = max(r["turns"] for r in rows)
    assert longest >= 2
    generated = [g for r in rows for g in r["meta"]["generation"] if g["role"]]
    for g in generated:
        # The server's own count of every prompt, plus what the role may generate, fits the slot.
        limit = config["roles"][g["role"]]["max_tokens"]
        assert g["prompt_tokens"] + limit <= SLOT, g
        assert g["model"] and g["finish_reason"] in ("stop", "length")
    print(f"\n{len(rows)} dialogues, {summary['turns']} turns, end reasons {summary['end_reasons']}, "
          f"max prompt {max(g['prompt_tokens'] for g in generated)} tokens of {SLOT}")

    # `parley stats` on the real model's output: the figures agree with the Python reference
    # implementation of Tests/e2e/test_stats.py, and the HTML report renders with its charts.
    # The reference knows no seeds, so the seeds' user turns are counted here too.
    from test_stats import assert_matches, dialogues_of, reference_stats, render
    p = parley("stats", run / "dialogues.jsonl", "--json", "--quiet", "--include-seeds", "--out", run / "stats")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)["datasets"][0]
    dialogues, skipped = dialogues_of(run / "dialogues.jsonl", "sharegpt")
    assert d["shape"] == "sharegpt" and d["dialogues"] == len(rows) == len(dialogues) and d["skipped"] == skipped == 0
    if not re.search(r"[\u3040-\u30ff\u3400-\u9fff]", (run / "dialogues.jsonl").read_text()):
        assert_matches(d, reference_stats(dialogues), "real run")  # the reference does not split CJK ideographs
    assert 0 <= d["context_dependent"]["share"] <= 1 and d["topic_shifts"]["per_dialogue"] >= 0
    dom, console = render(run / "stats/stats.html", tmp_path)
    assert console == [] and dom.count("<svg") >= 3, console


@pytest.mark.parametrize("example", ["local-prompted", "local-baize", "local-swapped", "local-socratic"])
def test_every_simulator_mode_runs_on_the_local_model(tmp_path, llama_server, example):
    """The shipped example of each way of playing the user (prompted UltraChat-style,
    Baize's self-chat transcript, role-swapped with free-mode topics, trained Socratic
    with seeded exchanges) runs against the real server with its personas and filters."""
    config = json.loads((ROOT / f"examples/configs/{example}.json").read_text())
    # Socratic's example runs until the context is full (turns.max 50): 12 exchanges show it as well.
    shorter = ["--set", "turns.max=12"] if example == "local-socratic" else []
    p = parley("synth", "--config", f"examples/configs/{example}.json", "--out", tmp_path / "run", "--quiet",
               "--set", f"backends.local.base_url={llama_server}/v1", "--set", "run.limit=3", *shorter, timeout=900)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (tmp_path / "run/failures.jsonl").read_text()
    assert summary["finished"] + summary["filtered"] == 3
    kept = read_jsonl(tmp_path / "run/dialogues.jsonl")
    rows = kept + read_jsonl(tmp_path / "run/filtered.jsonl")
    personas = (ROOT / "examples/personas/personas.txt").read_text().splitlines()
    for r in rows:
        meta = r["meta"]
        assert ("persona" in meta) == ("personas" in config)
        if "personas" in config:
            assert meta["persona"] in personas
        assert all(f["filter"] in config["filters"] for f in meta["filters"]), meta["filters"]
        if r in kept:
            users = [c["value"] for c in r["conversations"] if c["from"] == "human"]
            assert users and all(u.strip() for u in users)
        if example == "local-swapped":
            assert meta["seed_mode"] == "free"  # the asker wrote the opening question
        if example == "local-socratic":
            assert meta["seed_mode"] == "exchange" and r["conversations"][0]["from"] == "human"
    # Every filter decision is counted in the summary.
    decisions = sum(len(r["meta"]["filters"]) for r in rows)
    assert decisions == sum(n for f in summary["filters"].values() for n in f.values())


def test_the_demo_makes_dialogues_that_read_as_dialogues(tmp_path, llama_server):
    """scripts/demo's config on the 270M base model: at least 4 exchanges per dialogue on average and
    at most one dialogue ending degenerate (few-shot transcripts, sampling that curbs repetition)."""
    p = parley("synth", "--config", "examples/configs/demo.json", "--out", tmp_path / "run", "--quiet",
               "--set", f"backends.local.base_url={llama_server}/v1", timeout=900)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0 and summary["finished"] == summary["seeds"], summary
    rows = read_jsonl(tmp_path / "run/dialogues.jsonl")
    assert summary["mean_turns"] >= 4, [(r["end_reason"], r["turns"]) for r in rows]
    assert summary["end_reasons"].get("degenerate", 0) <= 1, summary["end_reasons"]
    # The model's own turns are prose, not markup or blanks.
    generated = [c["value"] for r in rows for c, g in zip(r["conversations"], r["meta"]["generation"]) if g["role"]]
    assert not [t for t in generated if re.match(r"\s*(<\w+>|_{3,})", t)], generated
    print(f"\ndemo: {summary['mean_turns']:.1f} exchanges per dialogue, end reasons {summary['end_reasons']}")


@pytest.fixture(scope="module")
def embeddings_server():
    out = subprocess.run([SCRIPT, "start", "--embeddings", "--ctx", "2048", "--parallel", "1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in out.stdout.split())
    yield env["LOCAL_MODEL_URL"]
    subprocess.run([SCRIPT, "stop", env["LOCAL_MODEL_PID"]], timeout=60)


def test_model_based_statistics_on_the_local_servers(tmp_path, llama_server, embeddings_server):
    """Exact token counts (checked against the server's /tokenize called from Python),
    embedding topic similarity and shifts, and the judge's counts — every judgment
    either read or counted as unparsed, never dropped."""
    import urllib.request
    fixture = ROOT / "Tests/e2e/fixtures/stats/sharegpt.jsonl"
    p = parley("stats", fixture, "--json", "--quiet", "--model-sample", "10",
               "--tokenize-url", f"{llama_server}/tokenize", "--embeddings-url", f"{embeddings_server}/v1",
               "--judge-url", f"{llama_server}/v1", "--judge-endpoint", "completion", "--judge-topic-shifts", timeout=600)
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)["datasets"][0]["model"]
    assert m["failures"] == {}, m["first_failure"]

    from test_stats import dialogues_of
    dialogues, _ = dialogues_of(fixture, "sharegpt")
    assert m["dialogues"] == len(dialogues)

    def tokens(text):
        req = urllib.request.Request(f"{llama_server}/tokenize", data=json.dumps({"content": text, "add_special": False}).encode(),
                                     headers={"Content-Type": "application/json"})
        return len(json.loads(urllib.request.urlopen(req, timeout=30).read())["tokens"])
    per_dialogue = sorted(sum(tokens(text) for role, text in msgs if role != "system") for _, msgs in dialogues)
    assert m["tokens"]["dialogue"]["mean"] == pytest.approx(sum(per_dialogue) / len(per_dialogue))
    assert m["tokens"]["dialogue"]["p90"] == per_dialogue[-(-9 * len(per_dialogue) // 10) - 1]

    assert -1 <= m["topic_similarity"] <= 1 and m["topic_shifts"]["per_dialogue"] >= 0
    # PlatoLM's topic similarity: the whole cosine matrix of the questions' embeddings, diagonal included
    # (every question is in the sample: fewer than --sample 1000).
    questions = [text for _, msgs in dialogues for role, text in msgs if role == "user"]
    req = urllib.request.Request(f"{embeddings_server}/v1/embeddings", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"model": "default", "input": questions}).encode())
    vectors = [d["embedding"] for d in json.loads(urllib.request.urlopen(req, timeout=120).read())["data"]]
    unit = [[x / math.sqrt(sum(y * y for y in v)) for x in v] for v in vectors]
    matrix_mean = sum(sum(a * b for a, b in zip(u, v)) for u in unit for v in unit) / len(unit) ** 2
    assert m["topic_similarity_questions"]["questions"] == len(questions)
    assert m["topic_similarity_questions"]["mean"] == pytest.approx(matrix_mean, abs=1e-3)
    users = sum(1 for _, msgs in dialogues for role, _ in msgs if role == "user")
    followups = users - len(dialogues)
    assert m["human_like"]["judged"] + m["human_like"]["unparsed"] == users
    assert m["context_dependent"]["judged"] + m["context_dependent"]["unparsed"] == followups
    assert m["topic_shifts_judged"]["judged"] + m["topic_shifts_judged"]["unparsed"] == followups
    print(f"\njudge (the small base model): human-like {m['human_like']}, context {m['context_dependent']}")


def test_evaluation_with_the_small_model_as_candidate_and_judge(tmp_path, llama_server):
    """Two shipped sessions, 8 turns each: every turn is judged or counted unscored with
    the judge's raw text; the report says how many could not be scored."""
    p = parley("eval", "--config", "examples/configs/eval-local.json", "--out", tmp_path / "run", "--quiet",
               "--set", f"backends.local.base_url={llama_server}/v1", "--set", "run.limit=2", timeout=900)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (tmp_path / "run/failures.jsonl").read_text()
    rows = read_jsonl(tmp_path / "run/dialogues.jsonl")
    judgments = [j for r in rows for j in r["meta"]["judgments"]]
    assert len(rows) == 2 and len(judgments) == summary["judged_turns"] == 16
    unscored = [j for j in judgments if j["score"] is None]
    assert summary["unscored_turns"] == len(unscored)
    assert all(j["raw"] and j["requests"] == 2 for j in unscored), "an unscored turn keeps every raw answer (1 re-ask)"
    assert all(1 <= j["score"] <= 10 for j in judgments if j["score"] is not None)
    (model,) = json.loads((tmp_path / "run/report.json").read_text())["models"]
    assert model["overall"]["scored"] + model["overall"]["unscored"] == 16
    assert model["overall"]["unscored"] == len(unscored)
    header, _, row = (tmp_path / "run/report.md").read_text().splitlines()[:3]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert cells["unscored"] == str(len(unscored)) and cells["scored"] == str(16 - len(unscored))
    print(f"\nsmall model as judge: {16 - len(unscored)} of 16 turns scored, {len(unscored)} unscored")


def test_structured_verdicts_parse_on_llama_cpp(tmp_path, llama_server):
    """With eval.structured the server constrains the judge to the schema (llama.cpp's json_schema
    on its completions endpoint): the small model's verdicts parse, and are counted as structured."""
    p = parley("eval", "--config", "examples/configs/eval-local.json", "--out", tmp_path / "run", "--quiet",
               "--set", f"backends.local.base_url={llama_server}/v1", "--set", "run.limit=1",
               "--set", "eval.structured=true", "--set", "roles.judge.max_tokens=96", timeout=900)
    assert p.returncode == 0, p.stderr
    judgments = [j for r in read_jsonl(tmp_path / "run/dialogues.jsonl") for j in r["meta"]["judgments"]]
    assert len(judgments) == 8
    structured = [j for j in judgments if j.get("structured")]
    assert structured and all(1 <= j["score"] <= 10 for j in structured), judgments
    (model,) = json.loads((tmp_path / "run/report.json").read_text())["models"]
    assert model["structured_verdicts"] == len(structured)
    print(f"\nstructured verdicts: {len(structured)} of 8 turns")

    # Self-talk's manager under its schema: every whole answer is the schema's JSON, an offered choice.
    # The schema's grammar lets whitespace in; the small model sometimes fills it until max_tokens cuts
    # the answer short (once in several full test runs): that answer is no JSON and is read as text instead.
    p = parley("synth", "--config", "examples/configs/selftalk-local.json", "--out", tmp_path / "selftalk", "--quiet",
               "--set", f"backends.local.base_url={llama_server}/v1", "--set", "run.limit=2",
               "--set", "selftalk.max_turns=3", "--set", "selftalk.structured=true",
               "--set", "roles.manager.max_tokens=32", timeout=900)
    assert p.returncode == 0, p.stderr
    steps = [s for r in read_jsonl(tmp_path / "selftalk/dialogues.jsonl") for s in r["meta"]["selftalk"]["steps"]]
    asked = [s for s in steps if "raw" in s]
    whole = [s for s in asked if is_json(s["raw"])]
    assert whole and all(s["structured"] and s["choice"] != "unparsed" for s in whole), steps
    assert not any(s["structured"] for s in asked if s not in whole), steps
    answers = json.loads(p.stdout)["selftalk"]["manager_answers"]
    assert answers == {"structured": len(whole), "text": len(asked) - len(whole)}, answers


@pytest.mark.parametrize("example,output", [("capo-local", "pairs.jsonl"), ("expert-local", "expert.jsonl"),
                                            ("selftalk-local", "selftalk_selected.jsonl")])
def test_recipes_on_the_local_model_through_a_sigkill(tmp_path, llama_server, example, output):
    """CaPO, ExpertPrompting and Self-talk against the real server: killed once mid-run
    (after a few journaled steps), resumed to the end with nothing lost or made twice."""
    run = tmp_path / "run"
    args = [BIN, "synth", "--config", f"examples/configs/{example}.json", "--out", run, "--quiet",
            "--set", f"backends.local.base_url={llama_server}/v1", "--set", "run.limit=3"]
    if example == "selftalk-local":
        args += ["--set", "selftalk.max_turns=3"]
    if example == "expert-local":
        # The shipped examples (~130 words each, as the paper's) need about 700 tokens of context; this
        # server's slots have LLAMA_SLOT.
        short = [{"instruction": f"Question {i}?", "description": f"You are an expert in topic {i}."} for i in range(3)]
        args += ["--set", "expert.examples=" + json.dumps(short), "--set", "roles.expert_writer.max_context=512",
                 "--set", "roles.expert_writer.max_tokens=64", "--set", "roles.assistant.max_context=512"]
    proc = subprocess.Popen([str(a) for a in args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        made = [e for e in read_jsonl_partial(run / "journal.jsonl") if e["t"] in ("msg", "rec")]
        if len(made) >= 3:
            break
        time.sleep(0.05)
    proc.kill()
    assert proc.wait() == -9, "the run must really be killed mid-way"
    p = parley(*args[1:], timeout=900)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (run / "failures.jsonl").read_text()
    assert summary["finished"] + summary["filtered"] == 3
    journal = journal_made_once(run)
    assert len([e for e in journal if e["t"] == "end"]) == 3, "every seed ended exactly once"
    rows = read_jsonl(run / output)
    if example == "capo-local":
        assert summary["records"]["select"] == 4  # "Is it long?", "…make them…", "Why does it…", "What about the other one?"
        assert all(r["prompt"][-1]["role"] == "user" and r["chosen"] and r["rejected"] for r in rows)
    elif example == "expert-local":
        # What holds for any output the model gives: one expert row per finished seed.
        assert len(rows) == summary["finished"] and all(r["expert_identity"] and r["answer"] is not None for r in rows)
    else:
        # A real dialogue may close after 0 turns and be filtered: count what was kept.
        st = summary["selftalk"]
        assert st["dialogues"] == summary["finished"] and st["selected"] == len(rows)
        for r in read_jsonl(run / "dialogues.jsonl"):
            assert 0 <= r["meta"]["selftalk"]["relative_depth"] <= 1 and r["meta"]["selftalk"]["steps"]
