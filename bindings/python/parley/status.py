"""The status codes of include/parley.h, in one table: `_lib`'s constants and each
exception's `status` are read from it, so a code cannot drift between them."""
import enum


class Status(enum.IntEnum):
    """PARLEY_OK and PARLEY_ERR_*, named as in the header without "PARLEY_"."""

    OK = 0
    ERR_ARGUMENT = 1  # a NULL pointer, invalid UTF-8, a bad number
    ERR_JSON = 2  # malformed JSON, or not the kind of value asked for
    ERR_CONFIG = 3  # a config, job or answer list that parses but is invalid
    ERR_HANDLE = 4  # an unknown or already freed handle
    ERR_IO = 5  # files: seeds, run directory
    ERR_TIMEOUT = 6  # nothing happened within the timeout
    ERR_CANCELLED = 7  # the job was cancelled
    ERR_STATE = 8  # not possible now (e.g. a backend in use)
    ERR_INTERNAL = 9  # a bug in Parley
