"""The C ABI from C: Tests/c (plain, valgrind, ASan/UBSan, g++, exported symbols)
and the C example, against .build-lib/libparley.so (scripts/build-lib)."""
import shutil, subprocess

from conftest import ROOT, need

LIB = ROOT / ".build-lib/libparley.so"


def make(*args, timeout=1800):
    return subprocess.run(["make", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def need_c_toolchain():
    need(LIB.exists(), f"{LIB} not found: build it with scripts/build-lib")
    for tool in ("make", "gcc", "g++", "pkg-config", "valgrind", "nm", "readelf"):
        need(shutil.which(tool) is not None, f"{tool} is not on PATH")
    need(subprocess.run(["pkg-config", "--exists", "jansson"]).returncode == 0, "jansson is not installed (libjansson-dev)")


def test_c_abi_tests_pass_plain_under_valgrind_and_sanitizers():
    need_c_toolchain()
    p = make("-C", "Tests/c", "all")
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-8000:]
    summaries = [line for line in p.stdout.splitlines() if line.endswith(" passed, 0 failed")]
    assert len(summaries) >= 3, p.stdout[-4000:]  # plain, valgrind, asan (and the symbols run)
    assert "symbols: exports, RUNPATH and dependencies are clean" in p.stdout


def test_c_example_runs():
    need_c_toolchain()
    p = make("-C", "examples/c", "run", timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 dialogues in" in p.stdout
    assert "gpt    [tiny-model] You asked \"Why is the sky blue?\"" in p.stdout
