"""The OpenAI-compatible backend against a real HTTP server that misbehaves on purpose."""
import json, os, time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from conftest import parley, read_jsonl, scripted_config, serve_http, stop_http, write_seeds


class FlakyServer:
    """Serves /v1/chat/completions and /v1/completions; `script` lists what the first
    requests get (status, headers, body); later ones succeed."""

    def __init__(self, script=()):
        self.script = list(script)
        self.requests = []  # (time, path, headers, body)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((time.monotonic(), self.path, dict(self.headers), body))
                status, headers, payload = server.script.pop(0) if server.script else (200, {}, None)
                if payload is None:
                    text = "Paris is the capital of France."
                    if self.path.endswith("/chat/completions"):
                        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    else:
                        choice = {"index": 0, "text": " And what about Italy?\nAssistant: Rome", "finish_reason": "stop"}
                    payload = json.dumps({"model": "flaky-1", "choices": [choice],
                                          "usage": {"prompt_tokens": 12, "completion_tokens": 7}})
                data = payload.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = serve_http(Handler)
        self.url = self.httpd.url + "/v1"

    def close(self):
        stop_http(self.httpd)


@pytest.fixture
def server(request):
    s = FlakyServer(getattr(request, "param", ()))
    yield s
    s.close()


def run(tmp_path, server, turns=1, asker_endpoint="completion", env=None, **backend):
    cfg = scripted_config(tmp_path,
        backends={"srv": {"type": "openai", "base_url": server.url, "model": "m", "backoff_base_seconds": 0.05, **backend}},
        roles={"asker": {"backend": "srv", "endpoint": asker_endpoint, "max_tokens": 16, "max_context": 1024},
               "assistant": {"backend": "srv", "system_prompt": "Be brief.", "max_tokens": 32, "max_context": 1024}},
        # The server answers every chat the same way: not a degenerate dialogue here.
        turns={"max": turns, "stop_on_repeat": False})
    seeds = write_seeds(tmp_path, ['{"question": "What is the capital of France?"}'])
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet",
               env={**os.environ, **(env or {})})
    return p, read_jsonl(tmp_path / "run/dialogues.jsonl"), read_jsonl(tmp_path / "run/failures.jsonl")


@pytest.mark.parametrize("server", [[(429, {"Retry-After": "1"}, '{"error": {"message": "slow down"}}')]], indirect=True)
def test_retry_after_is_honoured(tmp_path, server):
    p, rows, _ = run(tmp_path, server)
    assert p.returncode == 0, p.stderr
    (t1, *_), (t2, *_) = server.requests[:2]
    assert t2 - t1 >= 0.95, "the retry waited for Retry-After"
    gen = rows[0]["meta"]["generation"]
    assert gen[-1]["attempts"] == 2 and gen[-1]["prompt_tokens"] == 12 and gen[-1]["completion_tokens"] == 7
    assert gen[-1]["model"] == "flaky-1"


@pytest.mark.parametrize("server", [[(503, {}, "busy"), (500, {}, "oops")]], indirect=True)
def test_server_errors_are_retried_and_the_key_stays_secret(tmp_path, server):
    p, rows, _ = run(tmp_path, server, api_key_env="PARLEY_TEST_KEY", env={"PARLEY_TEST_KEY": "sk-very-secret"})
    assert p.returncode == 0, p.stderr
    assert len(server.requests) == 3
    assert all(h.get("Authorization") == "Bearer sk-very-secret" for _, _, h, _ in server.requests)
    for f in Path(tmp_path / "run").iterdir():
        assert "sk-very-secret" not in f.read_text(), f"the API key leaked into {f.name}"
    assert "sk-very-secret" not in p.stdout + p.stderr


@pytest.mark.parametrize("server", [[(400, {}, '{"error": {"message": "context too long"}}')]], indirect=True)
def test_client_errors_fail_at_once_with_the_servers_reason(tmp_path, server):
    p, rows, failures = run(tmp_path, server)
    assert p.returncode == 1 and not rows
    assert len(server.requests) == 1
    assert "HTTP 400" in failures[0]["reason"] and "context too long" in failures[0]["reason"]
    assert "after 1 attempt" in failures[0]["reason"]


@pytest.mark.parametrize("server", [[(200, {}, "this is not json")]], indirect=True)
def test_malformed_bodies_are_retried(tmp_path, server):
    p, rows, _ = run(tmp_path, server)
    assert p.returncode == 0 and rows[0]["meta"]["generation"][-1]["attempts"] == 2


def test_a_roles_params_reach_the_request_body(tmp_path, server):
    cfg = scripted_config(tmp_path,
        backends={"srv": {"type": "openai", "base_url": server.url, "model": "m", "tokenizer": "estimate"}},
        roles={"asker": {"backend": "srv", "endpoint": "completion", "max_tokens": 16, "max_context": 1024,
                         "params": {"top_k": 50, "repeat_penalty": 1.3, "cache_prompt": False}},
               "assistant": {"backend": "srv", "max_tokens": 32, "max_context": 1024,
                             "params": {"min_p": 0.05, "response_format": {"type": "text"}}}},
        turns={"max": 2, "stop_on_repeat": False})
    seeds = write_seeds(tmp_path, ['{"question": "What is the capital of France?"}'])
    p = parley("synth", "--config", cfg, "--seeds", seeds, "--out", tmp_path / "run", "--quiet")
    assert p.returncode == 0, p.stderr
    bodies = {path: body for _, path, _, body in server.requests}
    asker, assistant = bodies["/v1/completions"], bodies["/v1/chat/completions"]
    assert asker["top_k"] == 50 and asker["repeat_penalty"] == 1.3 and asker["cache_prompt"] is False
    assert assistant["min_p"] == 0.05 and assistant["response_format"] == {"type": "text"}
    assert "top_k" not in assistant and "min_p" not in asker, "each role's own"
    assert asker["temperature"] == 0.7 and assistant["max_tokens"] == 32, "Parley's fields as before"


def test_request_shapes_for_chat_and_completion(tmp_path, server):
    p, rows, _ = run(tmp_path, server, turns=2)
    assert p.returncode == 0, p.stderr
    paths = [path for _, path, _, _ in server.requests]
    assert paths == ["/v1/chat/completions", "/v1/completions", "/v1/chat/completions"]
    chat, completion = server.requests[0][3], server.requests[1][3]
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}
    assert chat["model"] == "m" and chat["max_tokens"] == 32 and isinstance(chat["seed"], int)
    # The prompt ends at the label: the model writes the space after it.
    assert completion["prompt"].endswith("Assistant: Paris is the capital of France.\nHuman:")
    assert "\nAssistant:" in completion["stop"]
    # The asker's text was cut at the stop sequence the server ignored.
    assert rows[0]["conversations"][3] == {"from": "human", "value": "And what about Italy?"}
