"""Version, loading, validation, errors and handle checks — including the raw C entry points."""
from __future__ import annotations

import json
import re
from ctypes import byref, c_void_p
from pathlib import Path
from typing import Any, get_args

import pytest

import parley
from parley import _lib, errors
from conftest import ROOT, fits, host_config, read_jsonl, scripted_config

BAD_CONFIG = {
    "backends": {"b": {"type": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"}},
    "roles": {"asker": {"backend": "b", "endpoint": "completion", "max_tokens": "ten"},
              "assistant": {"backend": "x"}},
}


def test_version_and_abi() -> None:
    assert parley.version() == "0.1.0"
    assert parley.abi_version() == parley.ABI_VERSION == 1


def test_every_header_function_is_declared() -> None:
    header = (ROOT / "include/parley.h").read_text()
    names = set(re.findall(r"^\s*(?:const )?\w+\s*\*?\s*(parley_\w+)\(", header, re.M))
    text_faces = {n for n in names if not n.endswith("_json")}
    assert text_faces == set(_lib.SIGNATURES)


def test_status_codes_are_the_headers_and_each_error_has_its_class() -> None:
    header = (ROOT / "include/parley.h").read_text()
    defined = {name: int(value) for name, value in re.findall(r"^#define PARLEY_(OK|ERR_\w+) (\d+)", header, re.M)}
    assert {s.name: s.value for s in parley.Status} == defined
    assert {name: getattr(_lib, name) for name in defined} == defined
    classes = {s: type(errors.error_for(int(s), "m")) for s in parley.Status if s != parley.Status.OK}
    assert parley.ParleyError not in classes.values() and len(set(classes.values())) == len(classes)
    assert all(cls.status == s for s, cls in classes.items())
    unknown = errors.error_for(42, "m")
    assert type(unknown) is parley.ParleyError and unknown.status == 42


def test_typed_dicts_name_the_keys_the_library_returns(tmp_path: Path) -> None:
    with parley.Engine(scripted_config()) as engine, engine.start([{"question": "hi?"}], out=tmp_path / "run") as job:
        events = list(job.events(timeout=30))
        result = job.wait()
        progress = job.progress
    assert fits(progress, parley.JobProgress)
    assert fits(result, parley.JobResult) and fits(result["summary"], parley.RunSummary)
    rows = result["dialogues"]
    assert rows and all(fits(row, parley.DialogueRow) for row in rows)
    assert all(fits(entry, parley.ConversationEntry) for row in rows for entry in row["conversations"])
    by_kind = {get_args(shape.__annotations__["event"])[0]: shape for shape in get_args(parley.JobEvent)}
    assert events and all(fits(event, by_kind[event["event"]]) for event in events)


def test_load_order_and_error_names_every_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARLEY_LIB", str(tmp_path / "nope.so"))
    labels = [label for label, _ in _lib.candidates()]
    assert labels == ["$PARLEY_LIB", "package", "repository build"]
    assert _lib.candidates()[0][1] == tmp_path / "nope.so"
    (tmp_path / "garbage.so").write_text("not a library")
    monkeypatch.setattr(_lib, "_lib", None)  # force a fresh load (monkeypatch restores it)
    monkeypatch.setattr(_lib, "candidates", lambda: [("a", tmp_path / "nope.so"), ("b", tmp_path / "garbage.so")])
    with pytest.raises(_lib.LibraryLoadError) as e:
        _lib.lib()
    assert f"{tmp_path / 'nope.so'} (not found)" in str(e.value) and f"{tmp_path / 'garbage.so'} (" in str(e.value)


def test_validate_reports_every_problem_with_its_path() -> None:
    with pytest.raises(parley.ConfigError) as e:
        parley.validate(BAD_CONFIG)
    assert e.value.status == 3
    assert 'roles.asker.max_tokens: expected a positive integer, got "ten"' in str(e.value)
    assert 'roles.assistant.backend: no backend named "x"' in str(e.value)
    with pytest.raises(parley.ConfigError):
        parley.Engine(BAD_CONFIG)


def test_validate_accepts_dict_text_and_paths() -> None:
    path = ROOT / "examples/configs/scripted.json"
    parley.validate(path)
    parley.validate(str(path))
    parley.validate(path.read_text())
    parley.validate(host_config())


def test_malformed_json_raises_json_error() -> None:
    with pytest.raises(parley.JSONError):
        parley.validate('{"roles": {')
    with pytest.raises(parley.JSONError):
        parley.Engine('{"roles": {')


def test_closed_engine_raises_handle_error() -> None:
    engine = parley.Engine(scripted_config())
    engine.close()
    engine.close()  # idempotent in Python; the C handle is freed once
    with pytest.raises(parley.HandleError):
        engine.synthesize([{"question": "hi?"}])
    with pytest.raises(parley.HandleError):
        engine.run({"seeds": [{"question": "hi?"}]})
    with pytest.raises(parley.HandleError):
        engine.pull("host")


def test_closed_job_raises_handle_error(tmp_path: Path) -> None:
    with parley.Engine(scripted_config()) as engine:
        job = engine.start([{"question": "hi?"}], out=tmp_path / "run")
        job.wait()
        job.close()
        with pytest.raises(parley.HandleError):
            job.progress


def test_raw_entry_points_check_their_inputs() -> None:
    L = _lib.lib()
    err = c_void_p()
    assert L.parley_config_validate(None, byref(err)) == _lib.ERR_ARGUMENT
    assert _lib.take_string(err)
    assert L.parley_config_validate(b'{"run": {"seed": "\xff"}}', byref(err)) == _lib.ERR_ARGUMENT
    assert _lib.take_string(err)
    assert L.parley_config_validate(b"{", None) == _lib.ERR_JSON  # error may be NULL
    L.parley_string_free(None)
    assert "PARLEY_ERR_CONFIG" in _lib.status_name(_lib.ERR_CONFIG)
    for bogus in (123456789, 987654321987):
        assert L.parley_engine_free(bogus) == _lib.ERR_HANDLE
        assert L.parley_job_free(bogus) == _lib.ERR_HANDLE
        assert L.parley_job_cancel(bogus) == _lib.ERR_HANDLE
        assert L.parley_job_progress(bogus, byref(c_void_p()), byref(err)) == _lib.ERR_HANDLE
        _lib.take_string(err)
    assert L.parley_reply_set_text(None, b"x", None) == _lib.ERR_ARGUMENT
    assert L.parley_reply_set_error(None, b"x", 0) == _lib.ERR_ARGUMENT


def test_host_backend_serving_rules() -> None:
    with parley.Engine(host_config()) as engine:
        with pytest.raises(parley.ConfigError):
            engine.set_callback("nope", lambda r: "x")
        engine.set_callback("host", lambda r: "x")
        with pytest.raises(parley.StateError):
            engine.set_callback("host", lambda r: "y")
        with pytest.raises(parley.StateError):
            engine.pull("host")
    with parley.Engine(scripted_config()) as engine:
        with pytest.raises(parley.ConfigError):  # not a host backend
            engine.pull("fake")
    cfg = host_config()
    cfg["backends"]["late"] = {"type": "host"}
    with parley.Engine(cfg) as engine:
        engine.set_callback("host", lambda r: "x")
        engine.set_callback("late", lambda r: "x")  # unused by the roles, but every host backend needs a model
        assert len(engine.synthesize([{"question": "hi?"}])) == 1


def test_unserved_host_backend_refuses_to_start(tmp_path: Path) -> None:
    with parley.Engine(host_config()) as engine:
        try:
            job = engine.start([{"question": "hi?"}], out=tmp_path / "run")
        except parley.ParleyError as e:
            assert e.status == _lib.ERR_CONFIG, e
            return
        job.close()
        pytest.fail("a job started although its host backend has no model")


def test_seeds_as_jsonl_lines_and_a_broken_line(tmp_path: Path) -> None:
    with parley.Engine(scripted_config()) as engine:
        result = engine.run({"seeds": ['{"question": "one?"}', '{"question": ', {"question": "three?"}],
                             "out": str(tmp_path / "run")})
    assert result["summary"]["finished"] == 2 and result["summary"]["invalid_seeds"] == 1
    assert len(result["dialogues"]) == 2
    assert set(result["files"]) >= {"dialogues"}
    failures = read_jsonl(tmp_path / "run/failures.jsonl")
    assert [f["line"] for f in failures] == [2]


def test_default_out_is_a_fresh_temporary_directory() -> None:
    with parley.Engine(scripted_config()) as engine:
        first = engine.synthesize([{"question": "hi?"}])
        second = engine.synthesize([{"question": "hi?"}])
    assert len(first) == len(second) == 1  # not "resumed: nothing to do"
    assert first[0]["conversations"] == second[0]["conversations"]


def test_summary_only_result(tmp_path: Path) -> None:
    with parley.Engine(scripted_config()) as engine:
        result = engine.run({"seeds": [{"question": "a?"}], "out": str(tmp_path), "return": "summary"})
    assert "dialogues" not in result and result["summary"]["finished"] == 1
    assert json.loads((tmp_path / "summary.json").read_text())["finished"] == 1


def test_bad_jobs(tmp_path: Path) -> None:
    with parley.Engine(scripted_config()) as engine:
        with pytest.raises(parley.ParleyIOError, match="nope.jsonl"):
            engine.synthesize(tmp_path / "nope.jsonl", out=tmp_path / "run")
        with pytest.raises(parley.ConfigError) as e:  # a value of the wrong type
            engine.run({"seeds": "not an array", "out": str(tmp_path / "run")})
        assert "job.seeds" in str(e.value)
        err, result = c_void_p(), c_void_p()
        assert _lib.lib().parley_run(engine._handle, b"{", byref(result), byref(err)) == _lib.ERR_JSON
        assert _lib.take_string(err) and result.value is None


def test_abi_mismatch_is_refused(tmp_path: Path) -> None:
    class FakeLib:
        def __getattr__(self, name: str) -> Any:
            def fn(*args: Any) -> int:
                return 2 if name == "parley_abi_version" else 0
            setattr(self, name, fn)
            return fn

    with pytest.raises(_lib.LibraryLoadError, match="ABI version 2; these bindings need 1"):
        _lib._declare(FakeLib(), tmp_path / "libparley.so")  # type: ignore[arg-type]
