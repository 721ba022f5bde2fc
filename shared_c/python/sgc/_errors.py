"""One exception hierarchy for every sgc status code."""
from __future__ import annotations

from sgc._sgc import ffi, lib


class Error(Exception):
    """Base of every error the sgc core reports.

    Attributes
    ----------
    status : int
        The C status code (negative), or 0 when raised by Python-side checks.
    """

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ArgumentError(Error, ValueError):
    """A bad argument: wrong dtype, shape, k, n, non-finite input, options."""


class StateError(Error, RuntimeError):
    """A call out of order on a stateful object."""


class FrameError(Error, ValueError):
    """A malformed, truncated, corrupted or unauthenticated frame.

    ``reason`` is C's message, which names the offending field.
    """

    @property
    def reason(self) -> str:
        return str(self)

    @property
    def unauthenticated(self) -> bool:
        """The HMAC tag is missing or wrong, or this build cannot check tags."""
        return self.status in (lib.SGC_E_AUTH, lib.SGC_E_AUTH_UNSUPPORTED)


def _frame_codes() -> frozenset[int]:
    return frozenset(v for k, v in vars(lib).items()
                     if k.startswith("SGC_E_") and isinstance(v, int) and v <= lib.SGC_E_TRUNCATED)


_FRAME_CODES = _frame_codes()


def message(status: int) -> str:
    """C's own one-line message for ``status``."""
    return ffi.string(lib.sgc_strerror(status)).decode()


def check(status: int, context: str = "") -> int:
    """Return ``status`` when it is >= 0, else raise the matching exception."""
    if status >= 0:
        return status
    text = message(status)
    if context:
        text = f"{context}: {text}"
    if status in _FRAME_CODES:
        raise FrameError(text, status)
    if status == lib.SGC_E_STATE:
        raise StateError(text, status)
    raise ArgumentError(text, status)
