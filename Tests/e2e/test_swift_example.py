"""The Swift example: a separate SwiftPM package that depends on Parley by path."""
import shutil, subprocess

from conftest import ROOT, need


def test_swift_example_package_builds_and_runs():
    need(shutil.which("swift") is not None, "swift is not on PATH")
    p = subprocess.run(["swift", "run", "--package-path", "examples/swift", "SwiftExample"],
                       cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 dialogues" in p.stdout
    assert "gpt: You said" in p.stdout
