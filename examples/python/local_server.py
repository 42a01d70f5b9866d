#!/usr/bin/env python3
"""Both roles on a local llama.cpp server (scripts/local-model), through
examples/configs/local.json with its base_url pointed at the given server.
Usage: python3 examples/python/local_server.py http://127.0.0.1:8080  (or env LOCAL_MODEL_URL)"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
try:
    import parley
except ImportError:  # not pip-installed: use the repository's bindings
    sys.path.insert(0, str(ROOT / "bindings/python"))
    import parley


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LOCAL_MODEL_URL")
    if not url:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    config = json.loads((ROOT / "examples/configs/local.json").read_text())
    config["backends"]["local"]["base_url"] = url.rstrip("/") + "/v1"
    out = ROOT / "runs/python-local"
    with parley.Engine(config) as engine:
        result = engine.run({"seeds_file": str(ROOT / "examples/seeds/demo.jsonl"), "out": str(out), "fresh": True})
    s = result["summary"]
    print(f"local_server.py: {s['finished']} finished, {s['failed']} failed, mean {s['mean_turns']:.1f} turns, "
          f"{s['completion_tokens']} tokens in {s['wall_seconds']:.1f} s -> {out}")
    for entry in result["dialogues"][0]["conversations"][:4] if result["dialogues"] else []:
        print(f"  {entry['from']:>6}: {entry['value'][:70]!r}")
    return 0 if s["finished"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
