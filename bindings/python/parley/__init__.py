"""Python bindings for Parley, a multi-turn dialogue synthesis engine.

    import parley
    with parley.Engine("examples/configs/scripted.json") as engine:
        rows = engine.synthesize([{"question": "Why is the sky blue?"}])

The library is found through $PARLEY_LIB, next to this package, or in the
repository's .build-lib/ (see parley._lib).
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Union

from . import _lib
from ._lib import ABI_VERSION, LibraryLoadError
from .engine import Config, Engine, Job, PullQueue, Shard, config_text
from .errors import (ArgumentError, Cancelled, ConfigError, HandleError, InternalError, JSONError,
                     ParleyError, ParleyIOError, ParleyTimeout, StateError)
from .status import Status
from .types import (BudgetSpend, ChatMessage, ConversationEntry, DialogueEndedEvent, DialogueRow,
                    DialogueStartedEvent, GenerationRequest, JobEndedEvent, JobEvent, JobProgress, JobResult,
                    JobState, LimitEvent, MergedShard, MessageEvent, MetricsEvent, RayProgress, RayShardState, RunSummary)

__all__ = [
    "ABI_VERSION", "ArgumentError", "Cancelled", "ConfigError", "Engine", "HandleError", "InternalError",
    "JSONError", "Job", "LibraryLoadError", "ParleyError", "ParleyIOError", "ParleyTimeout", "PullQueue",
    "Shard", "StateError", "Status", "abi_version", "merge", "validate", "version",
    # JSON shapes (parley.types)
    "BudgetSpend", "ChatMessage", "ConversationEntry", "DialogueEndedEvent", "DialogueRow", "DialogueStartedEvent",
    "GenerationRequest", "JobEndedEvent", "JobEvent", "JobProgress", "JobResult", "JobState", "LimitEvent", "MetricsEvent",
    "MergedShard", "MessageEvent", "RayProgress", "RayShardState", "RunSummary",
]


def version() -> str:
    """The library's version, e.g. "0.1.0"."""
    return str(_lib.lib().parley_version().decode())


def abi_version() -> int:
    """The library's ABI version (checked against ABI_VERSION when it is loaded)."""
    return int(_lib.lib().parley_abi_version())


def validate(config: Config) -> None:
    """Checks a config (dict, JSON text or path); raises ConfigError naming every problem
    with its path, or JSONError for malformed JSON."""
    _lib.call(_lib.lib().parley_config_validate, config_text(config).encode("utf-8"))


def merge(dirs: Iterable[Union[str, "os.PathLike[str]"]], out: Union[str, "os.PathLike[str]"]) -> RunSummary:
    """Merges the finished run directories of one config's shards into `out`, as
    `parley merge` does (rows in seed-line order, so the result is the same whatever the
    number of shards); returns the merged summary (summary.json plus "shards"). Raises
    StateError naming a missing, repeated or unfinished shard or a directory of another
    config, ParleyIOError for files."""
    request = {"dirs": [os.fspath(d) for d in dirs], "out": os.fspath(out)}
    (text,) = _lib.call(_lib.lib().parley_merge, json.dumps(request).encode("utf-8"), outs=1)
    summary: RunSummary = json.loads(text or "{}")
    return summary
