"""`pip wheel ./bindings/python` builds libparley.so itself and ships it in a platform wheel that
installs and works in a fresh virtual environment, away from the repository."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT

PROGRAM = """
import json, sys, parley
from parley import _lib
config = {"backends": {"s": {"type": "scripted", "words": [3, 6]}},
          "roles": {"asker": {"backend": "s", "endpoint": "completion"}, "assistant": {"backend": "s"}},
          "turns": {"max": 2}}
rows = parley.Engine(config).synthesize([{"question": "Hi?"}, {"question": "Why?"}], out=sys.argv[1])
print(json.dumps({"library": str(_lib.library_path()), "package": parley.__file__,
                  "finished": len(rows)}))
"""


def test_the_wheel_carries_the_library_and_works_in_a_fresh_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PARLEY_LIB"}
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", ROOT / "bindings/python", "--no-deps", "-q",
                            "-w", wheels], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("*.whl")
    assert wheel.name.startswith("parley-") and "-py3-none-linux_" in wheel.name, wheel.name
    with zipfile.ZipFile(wheel) as z:
        assert "parley/libparley.so" in z.namelist()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    python = venv / "bin/python"
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", wheel],
                             env=env, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    # Run from elsewhere, so neither the repository's package nor its .build-lib can be found.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([python, "-c", PROGRAM, tmp_path / "run"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["finished"] == 2
    site = str(venv)
    assert report["package"].startswith(site) and report["library"].startswith(site), report
