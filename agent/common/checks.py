"""Value checks shared by the typed configurations (sparrow.common.config, agent and host configs).

Each raises ValueError with the caller's message, which names the field.
"""
from __future__ import annotations

import math
import os
from typing import Any, Iterable

__all__ = ["int_at_least", "is_integer", "is_number", "one_of", "optional_file", "positive", "require"]


def require(condition: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(message)


def is_number(value: Any) -> bool:
    """A finite int or float (bools excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """An int (bools excluded)."""
    return isinstance(value, int) and not isinstance(value, bool)


def positive(name: str, value: Any) -> None:
    """``value`` is a finite number > 0."""
    require(is_number(value) and value > 0, f"{name} must be a finite number > 0, got {value!r}")


def int_at_least(name: str, value: Any, low: int) -> None:
    """``value`` is an integer >= ``low``."""
    require(is_integer(value) and value >= low, f"{name} must be an integer >= {low}, got {value!r}")


def optional_file(name: str, value: Any) -> None:
    """``value`` is None or the path of an existing file."""
    if value is not None:
        require(isinstance(value, str) and os.path.isfile(value), f"{name}: no such file {value!r}")


def one_of(name: str, value: Any, registry: Iterable[str]) -> None:
    """``value`` names an entry of ``registry`` (the registry that implements the option)."""
    names = tuple(registry)
    require(isinstance(value, str) and value in names, f"{name} must be one of {names}, got {value!r}")
