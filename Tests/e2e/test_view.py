"""`parley view DIR`: one self-contained HTML page per run directory, rendered in headless Chromium —
kept, filtered and failed dialogues as transcripts with their per-message facts, the filters and the
search (through the URL's fragment), paging, and each recipe's products (judgments, pairs, workflow)."""
import json, re, time
from pathlib import Path
from urllib.parse import quote

from conftest import ROOT, parley, write_json, write_seeds
from test_golden import scripted
from test_stats import EXTERNAL, render


def view(run, tmp_path, fragment=""):
    """Writes run/view.html; returns (its text, the DOM after its script ran for `fragment`)."""
    p = parley("view", run)
    assert p.returncode == 0, p.stderr
    page = run / "view.html"
    assert p.stdout.strip() == str(page)
    html = page.read_text()
    if fragment:  # Chromium's command line takes a path; the fragment rides on a file URL
        target = tmp_path / f"at-{len(fragment)}.html"
        target.write_text(f'<!doctype html><meta http-equiv="refresh" content="0; url={page.as_uri()}#{fragment}">')
        dom, console = render(target, tmp_path)
    else:
        dom, console = render(page, tmp_path)
    assert console == [], console
    return html, dom


def articles(dom):
    return re.findall(r'<article class="(\w+)"><header><b>([^<]*)</b>', dom)


def test_a_parrot_run_with_filtered_and_failed_dialogues(tmp_path):
    config = write_json(tmp_path / "config.json", {
        "backends": {"s": {"type": "scripted", "words": [3, 9]},
                     "flaky": {"type": "scripted", "words": [3, 9], "fail_every": 4, "max_retries": 0}},
        "roles": {"asker": {"backend": "flaky", "endpoint": "completion", "max_tokens": 32},
                  "assistant": {"backend": "s", "system_prompt": "Be brief.", "max_tokens": 32}},
        "turns": {"max": 3}, "personas": ["a nurse", "a pilot"],
        "filters": {"user_length": {"max": 6}},
        "run": {"seed": 3, "concurrency": 1}})
    seeds = write_seeds(tmp_path, [json.dumps({"id": f"s{i}", "question": f"What about <b>topic</b> {i}?"})
                                   for i in range(60)])
    run = tmp_path / "run"
    p = parley("synth", "--config", config, "--seeds", seeds, "--out", run, "--quiet")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    kept, filtered, failed = summary["finished"], summary["filtered"], summary["failed"]
    assert kept and filtered and failed, summary

    html, dom = view(run, tmp_path)
    assert not [rx.pattern for rx in EXTERNAL if rx.search(html)], "the page loads nothing from outside"
    assert "<b>topic</b>" not in dom.split('<script id="data"')[0], "row text is never parsed as HTML"
    assert f"60 dialogues: {kept} kept, {filtered} filtered, {failed} failed." in dom
    shown = articles(dom)
    assert len(shown) == 50 and "1–50 of 60" in dom
    first = json.loads((run / "dialogues.jsonl").read_text().splitlines()[0])
    assert shown[0] == ("kept", first["id"])
    g = next(g for g in first["meta"]["generation"] if g["role"] == "assistant")
    assert (f'assistant · scripted · {g["prompt_tokens"]} + {g["completion_tokens"]} tokens · '
            f'{g["latency_ms"]} ms · stop · 1 attempt') in dom
    assert "<summary>system prompt</summary>Be brief." in dom

    _, dom = view(run, tmp_path, "status=failed")
    assert [s for s, _ in articles(dom)] == ["failed"] * failed
    reason = json.loads((run / "failures.jsonl").read_text().splitlines()[0])["reason"]
    assert reason.replace("<", "&lt;").replace(">", "&gt;") in dom

    _, dom = view(run, tmp_path, "status=filtered&filter=user_length")
    assert len(articles(dom)) == filtered and "user_length (drop, turn" in dom

    # The search finds the one seed asked about "<b>topic</b> N?"; its persona keeps it, the other hides it.
    persona, n = first["meta"]["persona"], first["id"][1:]
    query = "&q=" + quote(f"</b> {n}?")
    _, dom = view(run, tmp_path, "persona=" + quote(persona) + query)
    assert articles(dom) == [("kept", first["id"])], articles(dom)
    other = "a pilot" if persona == "a nurse" else "a nurse"
    _, dom = view(run, tmp_path, "persona=" + quote(other) + query)
    assert articles(dom) == [] and "no dialogue matches" in dom
    _, dom = view(run, tmp_path, "page=2")
    assert len(articles(dom)) == 10 and "51–60 of 60" in dom


def recipe_run(tmp_path, example, seeds=None):
    cfg = scripted(ROOT / f"examples/configs/{example}.json", tmp_path)
    run = tmp_path / example
    args = ["synth", "--config", cfg, "--out", run, "--quiet"] + (["--seeds", seeds] if seeds else [])
    p = parley(*args)
    assert p.returncode == 0, p.stderr
    return run


def test_recipe_products_are_shown(tmp_path):
    _, dom = view(recipe_run(tmp_path, "eval-local"), tmp_path)
    assert re.search(r'class="judgment">judge, turn 1: score \d', dom)
    _, dom = view(recipe_run(tmp_path, "capo-local"), tmp_path)
    assert 'class="chosen"><h5>chosen</h5>' in dom and 'class="rejected"><h5>rejected</h5>' in dom
    assert "preference pair, turn" in dom
    _, dom = view(recipe_run(tmp_path, "selftalk-local"), tmp_path)
    assert 'class="step">workflow step: ' in dom and "nodes reached: " in dom


def test_a_large_run_stays_usable(tmp_path):
    """20,000 dialogues: the page is written and its first page rendered within Chromium's budget;
    the times are printed (see the README for what was measured)."""
    n = 20000
    config = write_json(tmp_path / "config.json", {
        "backends": {"s": {"type": "scripted", "words": [6, 30]}},
        "roles": {"asker": {"backend": "s", "endpoint": "completion"}, "assistant": {"backend": "s"}},
        "turns": {"max": 4}, "run": {"concurrency": 64}})
    seeds = write_seeds(tmp_path, [json.dumps({"question": f"Question {i}?"}) for i in range(n)])
    run = tmp_path / "run"
    p = parley("synth", "--config", config, "--seeds", seeds, "--out", run, "--quiet", timeout=600)
    assert p.returncode == 0, p.stderr
    began = time.monotonic()
    _, dom = view(run, tmp_path, f"q=question+{n - 1}%3F")
    took = time.monotonic() - began
    assert [i for _, i in articles(dom)] and "1–1 of 1" in dom
    size = (run / "view.html").stat().st_size
    print(f"\n{n} dialogues: view.html {size / 1e6:.1f} MB, written and searched in Chromium in {took:.1f} s")
