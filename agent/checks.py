"""Value checks shared by the typed configurations (agent/config.py, host/config.py).

Each raises ValueError with the caller's message, which names the field.
"""
from __future__ import annotations

import math
from typing import Any

__all__ = ["is_integer", "is_number", "require"]


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
