"""The server's context, read from llama.cpp's /props at the start of a run: a role that asks
for more than a slot holds is refused before any dialogue starts, naming what to change; a
role that gives no max_context fits its windows to the slot."""
import json

from conftest import LLAMA_SLOT as SLOT, ROOT, parley, read_jsonl, write_json, write_seeds

LONG_SYSTEM = ("The assistant is a patient teacher. " + "It explains each idea step by step, with one short example, "
               "and checks that the human followed before going on. " * 15).strip()


def local_config(tmp_path, llama_server, **roles):
    """examples/configs/local.json on the session server, with role settings replaced."""
    cfg = json.loads((ROOT / "examples/configs/local.json").read_text())
    cfg["backends"]["local"]["base_url"] = f"{llama_server}/v1"
    for name, settings in roles.items():
        cfg["roles"][name].update(settings)
        cfg["roles"][name] = {k: v for k, v in cfg["roles"][name].items() if v is not None}
    return write_json(tmp_path / "config.json", cfg)


def test_a_role_wider_than_the_servers_slot_is_refused(tmp_path, llama_server):
    cfg = local_config(tmp_path, llama_server, assistant={"max_context": 600})
    p = parley("synth", "--config", cfg, "--out", tmp_path / "run", "--quiet", "--set", "run.limit=1", timeout=120)
    print(f"\n{p.stderr.strip()}")
    assert p.returncode == 1, p.stderr
    for words in ("roles.assistant.max_context", "600", str(SLOT), llama_server):
        assert words in p.stderr, f"{words!r} not in: {p.stderr}"
    assert "roles.asker" not in p.stderr, "the asker's 512 fits"
    assert not (tmp_path / "run/dialogues.jsonl").exists() or read_jsonl(tmp_path / "run/dialogues.jsonl") == []


def test_a_role_without_max_context_takes_the_servers(tmp_path, llama_server):
    """With the old default (4096) these windows would never drop an exchange (and a prompt
    could outgrow the 512-token slot); with the server's n_ctx every request fits it, and
    the windows drop old exchanges (or end the dialogue, context_exhausted) to stay there."""
    limits = {"asker": 16, "assistant": 32}
    cfg = local_config(tmp_path, llama_server, asker={"max_context": None, "max_tokens": limits["asker"]},
                       assistant={"max_context": None, "max_tokens": limits["assistant"], "system_prompt": LONG_SYSTEM})
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"What is the number {i} good for?"}) for i in range(3)])
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet",
               "--set", "turns.max=6", "--set", "turns.stop_on_repeat=false", timeout=600)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (tmp_path / "run/failures.jsonl").read_text()
    rows = read_jsonl(tmp_path / "run/dialogues.jsonl") + read_jsonl(tmp_path / "run/filtered.jsonl")
    generated = [g for r in rows for g in r["meta"]["generation"] if g["role"]]
    widest = max(g["prompt_tokens"] + limits[g["role"]] for g in generated)
    # A window that dropped an exchange: a role's prompt grew by less than the messages made
    # since its previous request (a few tokens of slack: a message is trimmed when rendered).
    drops = 0
    for r in rows:
        made = [g for g in r["meta"]["generation"] if g["role"]]
        for i, g in enumerate(made):
            j = next((j for j in range(i + 1, len(made)) if made[j]["role"] == g["role"]), None)
            if j is not None:
                added = sum(m["completion_tokens"] for m in made[i:j])
                drops += made[j]["prompt_tokens"] < g["prompt_tokens"] + added - 4
    exhausted = summary["end_reasons"].get("context_exhausted", 0)
    print(f"\n{len(rows)} dialogues, end reasons {summary['end_reasons']}; widest request {widest} of {SLOT} tokens "
          f"(prompt + max_tokens); {drops} windows dropped an exchange")
    assert widest <= SLOT
    assert drops + exhausted > 0, "no window ever dropped an exchange: nothing shows which max_context was used"


def test_on_full_end_stops_each_dialogue_when_the_askers_context_is_full(tmp_path, llama_server):
    """PlatoLM's ending on the real model: with "on_full": "end" the asker always sees the whole
    history, so its prompt only grows, and the dialogue ends (context_exhausted) once the history
    plus its max_tokens no longer fit its max_context; no request ever exceeds it. What the model
    writes decides when, so only that is asserted."""
    ctx, limits = 384, {"asker": 32, "assistant": 64}
    cfg = local_config(tmp_path, llama_server,
                       asker={"max_context": ctx, "max_tokens": limits["asker"], "on_full": "end"},
                       assistant={"max_tokens": limits["assistant"]})
    seeds = write_seeds(tmp_path, [json.dumps({"question": q}) for q in
                                   ("How do bees make honey?", "Why is the sky blue?")])
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet",
               "--set", "turns.max=50", "--set", "turns.stop_on_repeat=false", timeout=600)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == 0, (tmp_path / "run/failures.jsonl").read_text()
    rows = read_jsonl(tmp_path / "run/dialogues.jsonl") + read_jsonl(tmp_path / "run/filtered.jsonl")
    assert len(rows) == 2
    budget = ctx - limits["asker"] - 4  # margin_tokens
    for r in rows:
        asks = [g for g in r["meta"]["generation"] if g["role"] == "asker"]
        prompts = [g["prompt_tokens"] for g in asks]
        assert prompts == sorted(prompts), f"an asker prompt shrank (a window dropped history): {prompts}"
        assert all(n <= budget for n in prompts), f"{prompts} over {budget}"
        print(f"\n{r['id']}: {r['turns']} exchanges, ended {r['end_reason']}; asker prompts {prompts}; "
              f"{r['meta'].get('context_exhausted', '')}")
        if r["end_reason"] == "context_exhausted" and r["meta"]["context_exhausted"].startswith("asker"):
            needed, available = [int(w) for w in r["meta"]["context_exhausted"].split() if w.isdigit()]
            assert needed > available == budget
    assert summary["end_reasons"].get("max_turns", 0) == 0, "100 messages of ≥ 4 tokens cannot fit 348"


def test_a_roles_params_reach_llama_cpp(tmp_path, llama_server):
    """`params` on the real server: llama.cpp's /slots shows the sampling settings of each slot's
    last request, so the request Parley sent carried them."""
    import urllib.request
    cfg = local_config(tmp_path, llama_server, assistant={"max_tokens": 8, "params": {"top_k": 7, "repeat_penalty": 1.3}})
    seeds = write_seeds(tmp_path, [json.dumps({"question": "Name a colour."})])
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet",
               "--set", "turns.max=1", timeout=300)
    assert p.returncode == 0, p.stderr
    with urllib.request.urlopen(f"{llama_server}/slots", timeout=30) as r:
        slots = json.load(r)
    seen = [(s["params"].get("top_k"), round(s["params"].get("repeat_penalty", 0), 3)) for s in slots if "params" in s]
    print(f"\nslots' (top_k, repeat_penalty): {seen}")
    assert (7, 1.3) in seen
