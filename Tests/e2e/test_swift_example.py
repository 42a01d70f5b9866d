"""The Swift example: a separate SwiftPM package that depends on Parley by path.

Its program is also a target of Parley's own package, so the build the tests already made holds
it; here the example's manifest is loaded and resolved by SwiftPM (the `Parley` product found in
this repository), and the program runs. A full `swift run --package-path examples/swift` builds
Parley a second time (5 minutes); scripts/swift-example does that.
"""
import json, shutil, subprocess
from pathlib import Path

from conftest import BIN, ROOT, need


def test_swift_example_manifest_resolves_against_this_repository():
    need(shutil.which("swift") is not None, "swift is not on PATH")
    p = subprocess.run(["swift", "package", "--package-path", "examples/swift", "show-dependencies", "--format", "json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    graph = json.loads(p.stdout)
    parley = [d for d in graph["dependencies"] if Path(d["path"]).resolve() == ROOT]
    assert parley, graph["dependencies"]
    # Parley's own dependencies come with it (AsyncHTTPClient for the HTTP backend).
    names = {d["identity"] for d in parley[0]["dependencies"]}
    assert "async-http-client" in names, names


def test_swift_example_program_runs():
    example = Path(BIN).resolve().parent / "SwiftExample"
    need(example.exists(), f"{example} is not built (swift build)")
    p = subprocess.run([example], cwd=ROOT / "examples/swift", capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 dialogues" in p.stdout
    assert "gpt: You said" in p.stdout
