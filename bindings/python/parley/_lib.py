"""The low-level face of libparley: finds and loads the library, declares every
`const char *` entry point of include/parley.h (the `json_t` faces are skipped), and
owns the string rule: a string returned through `char **` is read, then freed with
parley_string_free().

`CDLL` (not `PyDLL`) matters: it releases the GIL around every call, so a thread
blocked in parley_run()/parley_job_wait() lets Parley's threads run Python callbacks.
"""
from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
from ctypes import CFUNCTYPE, POINTER, byref, c_char_p, c_double, c_int, c_void_p
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .errors import error_for
from .status import Status

ABI_VERSION = 1  # PARLEY_ABI_VERSION in include/parley.h
LIBRARY_NAME = "libparley.dylib" if sys.platform == "darwin" else "libparley.so"

# The status codes under the header's names (less "PARLEY_"), for code that calls the C
# functions directly; the values live in one table, status.Status.
OK = Status.OK
ERR_ARGUMENT = Status.ERR_ARGUMENT
ERR_JSON = Status.ERR_JSON
ERR_CONFIG = Status.ERR_CONFIG
ERR_HANDLE = Status.ERR_HANDLE
ERR_IO = Status.ERR_IO
ERR_TIMEOUT = Status.ERR_TIMEOUT
ERR_CANCELLED = Status.ERR_CANCELLED
ERR_STATE = Status.ERR_STATE
ERR_INTERNAL = Status.ERR_INTERNAL

# typedef int (*parley_generate_fn)(const char *request_json, parley_reply *reply, void *user_data);
GENERATE_FN = CFUNCTYPE(c_int, c_char_p, c_void_p, c_void_p)

_HANDLE = c_void_p  # parley_engine *, parley_job *, parley_reply *, parley_batch *: opaque
# `char **` outputs are raw pointers: a c_char_p would copy the text and lose the
# pointer that must go back to parley_string_free().
_OUT = POINTER(c_void_p)

# name: (restype, argtypes) for every `const char *` function of the header.
SIGNATURES: Dict[str, Tuple[Any, List[Any]]] = {
    "parley_version": (c_char_p, []),
    "parley_abi_version": (c_int, []),
    "parley_string_free": (None, [c_void_p]),
    "parley_status_name": (c_char_p, [c_int]),
    "parley_config_validate": (c_int, [c_char_p, _OUT]),
    "parley_engine_new": (c_int, [c_char_p, _OUT, _OUT]),
    "parley_engine_free": (c_int, [_HANDLE]),
    "parley_engine_set_callback": (c_int, [_HANDLE, c_char_p, GENERATE_FN, c_void_p, _OUT]),
    "parley_reply_set_text": (c_int, [_HANDLE, c_char_p, c_char_p]),
    "parley_reply_set_usage": (c_int, [_HANDLE, c_int, c_int]),
    "parley_reply_set_error": (c_int, [_HANDLE, c_char_p, c_int]),
    "parley_engine_use_pull": (c_int, [_HANDLE, c_char_p, _OUT]),
    "parley_pull_take": (c_int, [_HANDLE, c_char_p, c_int, c_double, _OUT, _OUT]),
    "parley_pull_submit": (c_int, [_HANDLE, c_char_p, c_char_p, _OUT]),
    "parley_pull_take_batch": (c_int, [_HANDLE, c_char_p, c_int, c_double, _OUT, _OUT]),
    "parley_batch_size": (c_int, [_HANDLE]),
    "parley_batch_request": (c_char_p, [_HANDLE, c_int]),
    "parley_batch_reply": (_HANDLE, [_HANDLE, c_int]),
    "parley_batch_submit": (c_int, [_HANDLE]),
    "parley_batch_free": (c_int, [_HANDLE]),
    "parley_run": (c_int, [_HANDLE, c_char_p, _OUT, _OUT]),
    "parley_job_start": (c_int, [_HANDLE, c_char_p, _OUT, _OUT]),
    "parley_job_progress": (c_int, [_HANDLE, _OUT, _OUT]),
    "parley_job_cancel": (c_int, [_HANDLE]),
    "parley_job_wait": (c_int, [_HANDLE, c_double, _OUT, _OUT]),
    "parley_job_next_event": (c_int, [_HANDLE, c_double, _OUT, _OUT]),
    "parley_job_free": (c_int, [_HANDLE]),
    "parley_merge": (c_int, [c_char_p, _OUT, _OUT]),
}


class LibraryLoadError(OSError):
    """libparley could not be loaded (or has the wrong ABI version)."""


def candidates() -> List[Tuple[str, Path]]:
    """Where the library is looked for, in order."""
    here = Path(__file__).resolve().parent
    places: List[Tuple[str, Path]] = []
    if os.environ.get("PARLEY_LIB"):
        places.append(("$PARLEY_LIB", Path(os.environ["PARLEY_LIB"])))
    places.append(("package", here / LIBRARY_NAME))  # wheels that ship the library
    # bindings/python/parley/_lib.py -> <repo>/.build-lib (scripts/build-lib's output)
    places.append(("repository build", here.parents[2] / ".build-lib" / LIBRARY_NAME))
    return places


def _declare(cdll: ctypes.CDLL, path: Path) -> ctypes.CDLL:
    for name, (restype, argtypes) in SIGNATURES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            raise LibraryLoadError(f"{path} does not export {name}") from None
        fn.restype, fn.argtypes = restype, argtypes
    abi = cdll.parley_abi_version()
    if abi != ABI_VERSION:
        raise LibraryLoadError(f"{path} has ABI version {abi}; these bindings need {ABI_VERSION}")
    return cdll


_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_path: Optional[Path] = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use, so that `import parley` never fails)."""
    global _lib, _path
    with _lock:
        if _lib is None:
            tried = []
            for label, path in candidates():
                if not path.exists():
                    tried.append(f"  {label}: {path} (not found)")
                    continue
                try:
                    cdll = ctypes.CDLL(str(path))
                except OSError as e:
                    tried.append(f"  {label}: {path} ({e})")
                    continue
                _lib = _declare(cdll, path)
                _path = path
                break
            else:
                raise LibraryLoadError("libparley not found; looked at:\n" + "\n".join(tried)
                                       + "\nbuild it with scripts/build-lib or set PARLEY_LIB")
        return _lib


def library_path() -> Path:
    """The file the library was loaded from (loading it first)."""
    lib()
    assert _path is not None
    return _path


def take_string(ptr: c_void_p) -> Optional[str]:
    """Reads a string the library returned through `char **`, then frees it."""
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value).decode("utf-8", errors="replace")
    finally:
        lib().parley_string_free(ptr.value)
        ptr.value = None


def status_name(status: int) -> str:
    name = lib().parley_status_name(status)
    return name.decode() if name else f"status {status}"


def check(status: int, message: Optional[str] = None, result: Optional[str] = None) -> None:
    """Raises the ParleyError for a failed status (message: the library's, else the code's name)."""
    if status != OK:
        try:
            parsed = json.loads(result) if result else None
        except ValueError:
            parsed = None
        raise error_for(status, message or status_name(status), parsed)


def call(fn: Any, *args: Any, outs: int = 0) -> List[Optional[str]]:
    """Calls an entry point whose last parameters are `outs` string outputs and `char **error`.
    Every output is read and freed, on failure too (a cancelled wait still fills its result)."""
    out = [c_void_p() for _ in range(outs)]
    err = c_void_p()
    status = fn(*args, *(byref(o) for o in out), byref(err))
    texts = [take_string(o) for o in out]
    check(status, take_string(err), texts[0] if texts else None)
    return texts


def call_new(fn: Any, *args: Any) -> int:
    """Calls parley_engine_new / parley_job_start; returns the new handle."""
    handle, err = c_void_p(), c_void_p()
    status = fn(*args, byref(handle), byref(err))
    check(status, take_string(err))
    if not handle.value:
        raise error_for(ERR_INTERNAL, f"{fn.__name__} returned PARLEY_OK and a NULL handle")
    return handle.value
