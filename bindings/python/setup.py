"""The build step that puts libparley.so inside the package, as llama-cpp-python builds llama.cpp.

`pip install ./bindings/python` and `pip wheel ./bindings/python` run the repository's
scripts/build-lib (a release Swift build: Swift 6 and libjansson-dev needed) and copy the
library into the wheel, which is then tagged for this platform. With PARLEY_LIB set to a built
libparley.so, that file is shipped instead and nothing is built. An editable install
(`pip install -e`) builds nothing: the package finds the repository's .build-lib/ at run time.
Everything else (metadata, dependencies) is in pyproject.toml.
"""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parents[1]


def built_library():
    """The library to ship: $PARLEY_LIB, or the repository's, built now."""
    if os.environ.get("PARLEY_LIB"):
        return Path(os.environ["PARLEY_LIB"])
    script = REPOSITORY / "scripts" / "build-lib"
    if not script.exists():
        raise SystemExit(f"parley: {script} not found: build from a checkout of the repository, "
                         "or set PARLEY_LIB to a built libparley.so")
    subprocess.run([str(script)], cwd=REPOSITORY, check=True)
    return REPOSITORY / ".build-lib" / "libparley.so"


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "parley" / "libparley.so"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built_library(), target)  # the file, not a link: a wheel holds no links
        target.chmod(0o755)


class WithNativeLibrary(Distribution):
    """Installs into platlib and makes a platform wheel: the package holds a native library."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """Tagged for this platform, for any Python 3 (the library is loaded with ctypes, not as an extension)."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(distclass=WithNativeLibrary, cmdclass={"build_py": BuildWithLibrary, "bdist_wheel": PlatformWheel})
