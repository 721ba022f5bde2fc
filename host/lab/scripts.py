"""Loading the single-file script modules that live beside the firmware and the MicroPython node.

``firmware/tools/qemu.py`` (start emulated boards) and ``agent/mp/shard_file.py``
(the board's shard format) are scripts, not parts of an installed package: a
board's file system or the firmware's build runs them from their own folder.
The harness loads each by its path, without changing ``sys.path``.
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType

from sparrow.common.file_modules import load_module_file

__all__ = ["ROOT", "load_script"]

#: The repository root (the harness runs from a checkout).
ROOT = Path(__file__).resolve().parents[2]


def load_script(relative: str) -> ModuleType:
    """The module in ``ROOT / relative``, loaded once under its file name."""
    path = ROOT / relative
    return load_module_file(path, path.stem)
