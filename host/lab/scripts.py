"""Loading the single-file script modules that live beside the firmware and the MicroPython node.

``firmware/tools/qemu.py`` (start emulated boards) and ``agent/mp/shard_file.py``
(the board's shard format) are scripts, not parts of an installed package: a
board's file system or the firmware's build runs them from their own folder.
The harness loads each by its path, without changing ``sys.path``.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["ROOT", "load_script"]

#: The repository root (the harness runs from a checkout).
ROOT = Path(__file__).resolve().parents[2]


def load_script(relative: str) -> ModuleType:
    """The module in ``ROOT / relative``, loaded once under its file name."""
    path = ROOT / relative
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve() == path:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
