"""benchmarks/floor builds a copy of the tree with benchmarks/floor.patch applied: a change to the lines it patches
must mend the patch too, found here rather than when somebody next runs the benchmark."""
import subprocess

from conftest import ROOT


def test_the_floor_benchmarks_patch_applies_to_the_tree():
    p = subprocess.run(["git", "apply", "--check", "benchmarks/floor.patch"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
