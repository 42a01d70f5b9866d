"""Exceptions: one class per status code of parley.h, message = the library's error text."""
from typing import Any, Dict, Optional, Type


class ParleyError(Exception):
    """A call into libparley failed; `status` is its PARLEY_ERR_* code."""

    status: int = -1

    def __init__(self, message: str, status: Optional[int] = None, result: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        # parley_job_wait fills in a result even when it fails (cancelled: the summary so far).
        self.result = result


class ArgumentError(ParleyError):
    status = 1


class JSONError(ParleyError):
    status = 2


class ConfigError(ParleyError):
    status = 3


class HandleError(ParleyError):
    status = 4


class ParleyIOError(ParleyError):
    status = 5


class ParleyTimeout(ParleyError):
    status = 6


class Cancelled(ParleyError):
    status = 7


class StateError(ParleyError):
    status = 8


class InternalError(ParleyError):
    status = 9


_BY_STATUS: Dict[int, Type[ParleyError]] = {
    cls.status: cls
    for cls in (ArgumentError, JSONError, ConfigError, HandleError, ParleyIOError,
                ParleyTimeout, Cancelled, StateError, InternalError)
}


def error_for(status: int, message: str, result: Optional[Dict[str, Any]] = None) -> ParleyError:
    """The exception for a status code (unknown codes give a plain ParleyError)."""
    cls = _BY_STATUS.get(status, ParleyError)
    return cls(message, status, result)
