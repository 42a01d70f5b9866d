"""The C ABI from C: Tests/c (plain, valgrind, ASan/UBSan, g++, exported symbols)
and the C example, against .build-lib/libparley.so (scripts/build-lib)."""
import os, re, shutil, subprocess

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


def test_the_library_is_small():
    """At most 30 MB: FoundationEssentials, not full Foundation with ICU's data (issue 14: it was 89 MB)."""
    need(LIB.exists(), f"{LIB} not found: build it with scripts/build-lib")
    size = LIB.stat().st_size
    assert size <= 30_000_000, f"{LIB} is {size / 1e6:.1f} MB"
    assert b"icudt" not in LIB.read_bytes(), "ICU's data is linked in: some module imports full Foundation"


def test_c_example_runs():
    need_c_toolchain()
    p = make("-C", "examples/c", "run", timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 dialogues in" in p.stdout
    assert "gpt    [tiny-model] You asked \"Why is the sky blue?\"" in p.stdout


def test_installed_library_builds_the_example_with_pkg_config(tmp_path):
    """scripts/install PREFIX: the library under its soname, the header and parley.pc; the C example
    builds with `pkg-config --cflags --libs parley` alone and runs against the installed copy."""
    need_c_toolchain()
    prefix = tmp_path / "prefix"
    p = subprocess.run([ROOT / "scripts/install", prefix], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr
    lib = prefix / "lib"
    assert (lib / "libparley.so.1").is_file() and not (lib / "libparley.so.1").is_symlink()
    assert (lib / "libparley.so").resolve() == (lib / "libparley.so.1").resolve()
    assert (prefix / "include/parley.h").read_bytes() == (ROOT / "include/parley.h").read_bytes()
    soname = subprocess.run(["readelf", "-d", lib / "libparley.so.1"], capture_output=True, text=True).stdout
    assert "Library soname: [libparley.so.1]" in soname

    env = {**os.environ, "PKG_CONFIG_PATH": str(lib / "pkgconfig")}
    pc = subprocess.run(["pkg-config", "--modversion", "--cflags", "--libs", "parley"], env=env,
                        capture_output=True, text=True)
    assert pc.returncode == 0, pc.stderr
    version = re.search(r'#define PARLEY_VERSION "(.*)"', (ROOT / "include/parley.h").read_text()).group(1)
    assert pc.stdout.split()[0] == version
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "parley", "jansson"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    assert f"-I{prefix}/include" in flags and f"-L{lib}" in flags and "-lparley" in flags
    exe = tmp_path / "synth"
    cc = subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", ROOT / "examples/c/synth.c", *flags, "-o", exe],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    needed = subprocess.run(["readelf", "-d", exe], capture_output=True, text=True).stdout
    assert "Shared library: [libparley.so.1]" in needed

    run = subprocess.run([exe, tmp_path / "run"], env={**env, "LD_LIBRARY_PATH": str(lib)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "3 dialogues in" in run.stdout
    # The loader took the installed library, not the build tree's.
    ldd = subprocess.run(["ldd", exe], env={**env, "LD_LIBRARY_PATH": str(lib)}, capture_output=True, text=True).stdout
    assert f"{lib}/libparley.so.1" in ldd, ldd
