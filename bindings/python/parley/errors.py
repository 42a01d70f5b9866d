"""Exceptions: one class per error code of status.Status (parley.h's PARLEY_ERR_*), message = the
library's error text."""
from typing import Any, Dict, Optional, Type

from .status import Status


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
    status = Status.ERR_ARGUMENT


class JSONError(ParleyError):
    status = Status.ERR_JSON


class ConfigError(ParleyError):
    status = Status.ERR_CONFIG


class HandleError(ParleyError):
    status = Status.ERR_HANDLE


class ParleyIOError(ParleyError):
    status = Status.ERR_IO


class ParleyTimeout(ParleyError):
    status = Status.ERR_TIMEOUT


class Cancelled(ParleyError):
    status = Status.ERR_CANCELLED


class StateError(ParleyError):
    status = Status.ERR_STATE


class InternalError(ParleyError):
    status = Status.ERR_INTERNAL


_BY_STATUS: Dict[int, Type[ParleyError]] = {
    cls.status: cls
    for cls in (ArgumentError, JSONError, ConfigError, HandleError, ParleyIOError,
                ParleyTimeout, Cancelled, StateError, InternalError)
}


def error_for(status: int, message: str, result: Optional[Dict[str, Any]] = None) -> ParleyError:
    """The exception for a status code (unknown codes give a plain ParleyError)."""
    cls = _BY_STATUS.get(status, ParleyError)
    return cls(message, status, result)
