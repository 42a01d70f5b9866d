"""Shared helpers. The tests run against the real library (PARLEY_LIB, or the
repository's .build-lib/libparley.so) and the real CLI (PARLEY_BIN)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping

import pytest

import parley

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("PARLEY_BIN", ROOT / ".build/debug/parley"))


def host_config(concurrency: int = 16, turns: Any = 1, **overrides: Any) -> Dict[str, Any]:
    """Both roles on one host backend; with question seeds and turns.max 1 only the
    assistant is asked, once per seed."""
    cfg: Dict[str, Any] = {
        "backends": {"host": {"type": "host", "max_concurrency": concurrency}},
        "roles": {
            "asker": {"backend": "host", "endpoint": "completion", "max_tokens": 32},
            "assistant": {"backend": "host", "system_prompt": "Be brief.", "max_tokens": 64},
        },
        "turns": {"max": turns},
        "run": {"seed": 5, "concurrency": concurrency},
    }
    cfg.update(overrides)
    return cfg


def scripted_config(**overrides: Any) -> Dict[str, Any]:
    cfg: Dict[str, Any] = {
        "backends": {"fake": {"type": "scripted", "words": [4, 12]}},
        "roles": {
            "asker": {"backend": "fake", "endpoint": "completion", "max_tokens": 32},
            "assistant": {"backend": "fake", "max_tokens": 64},
        },
        "turns": {"max": 2},
        "run": {"seed": 11, "concurrency": 8},
    }
    cfg.update(overrides)
    return cfg


def questions(n: int) -> List[Dict[str, str]]:
    return [{"id": f"q{i}", "question": f"Question number {i}?"} for i in range(n)]


def fits(value: Mapping[str, Any], shape: Any) -> bool:
    """`value` has every key the TypedDict `shape` requires and none it does not name."""
    return bool(shape.__required_keys__ <= set(value) <= shape.__required_keys__ | shape.__optional_keys__)


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="session", autouse=True)
def library_loads() -> None:
    try:
        parley.version()
    except parley.LibraryLoadError as e:
        pytest.fail(f"{e}")
