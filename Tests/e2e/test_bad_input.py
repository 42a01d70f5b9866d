"""Bad input, swept: broken seeds files, impossible configs and misbehaving servers each get
a clear error naming the line or path, and the rest of the run is kept."""
import json, os
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from conftest import parley, read_jsonl, scripted_config, serve_http, stop_http, write_json, write_seeds

GOOD = [json.dumps({"id": f"good-{i}", "question": f"Question {i}?"}) for i in range(3)]


def synth(tmp_path, seeds_path, cfg=None, *extra):
    cfg = cfg or scripted_config(tmp_path, turns={"max": 2})
    return parley("synth", "--config", cfg, "--seeds", seeds_path, "--out", tmp_path / "run", "--quiet", *extra)


def outcome(tmp_path):
    run = tmp_path / "run"
    return read_jsonl(run / "dialogues.jsonl"), read_jsonl(run / "failures.jsonl")


def assert_good_seeds_written(rows):
    assert sorted(r["id"] for r in rows) == ["good-0", "good-1", "good-2"]


def bad_seed_file(tmp_path, bad: bytes):
    """The three good lines around one bad line (line 3)."""
    path = tmp_path / "seeds.jsonl"
    path.write_bytes(b"".join(line.encode() + b"\n" for line in GOOD[:2]) + bad + b"\n" + GOOD[2].encode() + b"\n")
    return path


@pytest.mark.parametrize("name, bad, says", [
    ("50 MB line", b'{"question": "' + b"a" * (50 << 20) + b'"}', "seeds line 3: 52428816 bytes, over the 16 MiB a seed may have"),
    ("invalid UTF-8", b'{"question": "caf\xe9?"}', "seeds line 3: not valid UTF-8 (byte 17)"),
    ("NUL byte", b'{"question": "a\x00b"}', "seeds line 3: not valid JSON"),
    ("10,000-deep nesting", b'{"question": "q", "extra": ' + b"[" * 10000 + b"]" * 10000 + b"}",
     "seeds line 3: not valid JSON: nested deeper than 256 levels"),
    ("fractional id", b'{"id": 7.5, "question": "q"}', "seeds line 3: id: expected a string, got 7.5"),
    ("list id", b'{"id": [7], "question": "q"}', "seeds line 3: id: expected a string"),
    ("repeated id", b'{"id": "good-0", "question": "again?"}', 'seeds line 3: id "good-0" repeats line 1'),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else "")
def test_a_bad_seed_line_is_named_and_the_others_are_written(tmp_path, name, bad, says):
    p = synth(tmp_path, bad_seed_file(tmp_path, bad))
    assert p.returncode == 0, p.stderr
    rows, failures = outcome(tmp_path)
    assert_good_seeds_written(rows)
    assert len(failures) == 1 and failures[0]["line"] == 3 and says in failures[0]["reason"], failures
    assert failures[0]["end_reason"] == "invalid_seed"
    summary = json.loads(p.stdout)
    assert summary["finished"] == 3 and summary["failed"] == 1


def test_integer_ids_are_kept_as_strings_and_may_clash(tmp_path):
    """MT-Bench's files number their questions: an integer id is its decimal string."""
    p = synth(tmp_path, bad_seed_file(tmp_path, b'{"id": 7, "question": "q"}\n{"id": "7", "question": "again"}'))
    assert p.returncode == 0, p.stderr
    rows, failures = outcome(tmp_path)
    assert sorted(r["id"] for r in rows) == ["7", "good-0", "good-1", "good-2"]
    assert [f["reason"] for f in failures] == ['seeds line 4: id "7" repeats line 3']


def test_an_empty_seeds_file_is_an_error_naming_it(tmp_path):
    seeds = write_seeds(tmp_path, [])
    p = synth(tmp_path, seeds)
    assert p.returncode == 1 and f"{seeds} has no seeds" in p.stderr, p.stderr


def test_a_directory_instead_of_a_seeds_file(tmp_path):
    p = synth(tmp_path, tmp_path)
    assert p.returncode == 1 and str(tmp_path) in p.stderr and "is a directory" in p.stderr, p.stderr


@pytest.mark.parametrize("setting, says", [
    ("run.concurrency=NaN", 'run.concurrency: expected an integer in 1…1000000, got "NaN"'),
    ("run.concurrency=1e400", "run.concurrency: expected an integer in 1…1000000, got inf"),
    ("run.concurrency=-4", "run.concurrency: expected an integer in 1…1000000, got -4"),
    ("backends.fake.max_concurrency=-1", "backends.fake.max_concurrency: expected"),
    ("roles.asker.temperature=1e308", "roles.asker.temperature: expected a number"),
    ("roles.asker.max_tokens=99999999999999999999", "roles.asker.max_tokens: expected a positive integer"),
])
def test_impossible_config_values_are_named_with_their_path(tmp_path, setting, says):
    cfg = scripted_config(tmp_path)
    p = parley("validate", "--config", cfg, "--set", setting)
    assert p.returncode == 1 and says in p.stderr, p.stderr


def test_a_nan_in_the_config_file_is_named(tmp_path):
    cfg = Path(scripted_config(tmp_path))
    cfg.write_text(cfg.read_text().replace('"concurrency": 32', '"concurrency": NaN'))
    p = parley("validate", "--config", cfg)
    assert p.returncode == 1 and "not valid JSON: unexpected character at byte" in p.stderr, p.stderr


class Misbehaving:
    """An OpenAI-compatible server that answers one way for questions containing a word
    (`BIG`, `LATIN1`, `LENGTH`, `DENIED`, `ECHO`) and correctly otherwise."""

    def __init__(self):
        server = self
        self.key_seen = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.key_seen.append(self.headers.get("Authorization"))
                text = body.decode()
                status, finish, content = 200, "stop", "A fine answer."
                if "BIG" in text:
                    return self.reply(200, b'{"choices": [{"message": {"content": "' + b"x" * (40 << 20) + b'"}}]}')
                if "LATIN1" in text:
                    return self.reply(200, '{"choices": [{"message": {"content": "caf\xe9"}}]}'.encode("latin-1"))
                if "DENIED" in text or "ECHO" in text:
                    key = self.headers.get("Authorization", "")
                    return self.reply(401, json.dumps({"error": {"message": f"invalid key: {key}"}}).encode())
                if "LENGTH" in text:
                    finish = "length"
                choice = {"index": 0, "message": {"role": "assistant", "content": content}, "text": " Next?",
                          "finish_reason": finish}
                self.reply(status, json.dumps({"choices": [choice], "usage": {"prompt_tokens": 3, "completion_tokens": 3}}).encode())

            def reply(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = serve_http(Handler)
        self.url = self.httpd.url + "/v1"


@pytest.fixture(scope="module")
def misbehaving():
    s = Misbehaving()
    yield s
    stop_http(s.httpd)


SECRET = "sk-parley-test-0123456789abcdef"


def server_run(tmp_path, server, bad_question, turns=1):
    cfg = scripted_config(tmp_path,
        backends={"srv": {"type": "openai", "base_url": server.url, "model": "m", "api_key_env": "PARLEY_BAD_KEY",
                          "max_retries": 1, "backoff_base_seconds": 0.01, "timeout_seconds": 20}},
        roles={"asker": {"backend": "srv", "endpoint": "completion", "max_tokens": 8},
               "assistant": {"backend": "srv", "max_tokens": 8}},
        turns={"max": turns, "stop_on_repeat": False})
    seeds = write_seeds(tmp_path, GOOD[:2] + [json.dumps({"id": "bad", "question": bad_question})] + GOOD[2:])
    # Not --quiet: the progress lines are checked for the key too.
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run",
               "--set", "run.progress_seconds=0.1", env={**os.environ, "PARLEY_BAD_KEY": SECRET})
    rows, failures = outcome(tmp_path)
    # The key never reaches a file of the run directory, the output or a log line.
    for f in (tmp_path / "run").iterdir():
        if f.is_file():
            assert SECRET not in f.read_text(errors="replace"), f"the API key leaked into {f.name}"
    assert SECRET not in p.stdout + p.stderr
    return p, rows, failures


@pytest.mark.parametrize("question, says, attempts", [
    ("Send me something BIG", "is over 32 MiB", 1),
    ("LATIN1 please", "malformed body", 2),
    ("DENIED", "HTTP 401", 1),
    ("ECHO my key", "invalid key: Bearer [api key]", 1),
])
def test_a_misbehaving_server_fails_one_dialogue_with_its_reason(tmp_path, misbehaving, question, says, attempts):
    p, rows, failures = server_run(tmp_path, misbehaving, question)
    assert p.returncode == 0, p.stderr
    assert_good_seeds_written(rows)
    assert [f["id"] for f in failures] == ["bad"]
    reason = failures[0]["reason"]
    assert says in reason and f"after {attempts} attempt" in reason, reason
    assert misbehaving.key_seen[-1] == f"Bearer {SECRET}"


def test_finish_reason_length_on_every_answer_is_kept_and_recorded(tmp_path, misbehaving):
    p, rows, failures = server_run(tmp_path, misbehaving, "LENGTH everywhere", turns=2)
    assert p.returncode == 0 and not failures, p.stderr
    bad = next(r for r in rows if r["id"] == "bad")
    assert [g["finish_reason"] for g in bad["meta"]["generation"] if g["role"] == "assistant"] == ["length", "length"]
    assert len(rows) == 4
