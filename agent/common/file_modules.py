"""Running a Python file as a module by its path, without touching ``sys.path``.

Sparrow loads several files this way: a user's model file
(``--model model.py:build``), a user's data stream (``--data feed.py:read``),
and the script tools that live beside the firmware and the MicroPython node.
One loader for all of them: the module is registered in ``sys.modules``
under ``name`` while its code runs (dataclasses and pickling look it up
there), and kept there afterwards unless ``keep`` is false.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["load_module_file"]


def load_module_file(path: str | Path, name: str, *, keep: bool = True) -> ModuleType:
    """The module that runs ``path``, named ``name``; loaded once while kept.

    Raises
    ------
    ValueError
        When ``path`` is not a file or not loadable as Python. Whatever the
        file's own code raises passes through (the caller names it).
    """
    file = Path(path).resolve()
    loaded = sys.modules.get(name)
    if keep and loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == file:
        return loaded
    if not file.is_file():
        raise ValueError(f"{path}: no such file")
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    if not keep:
        sys.modules.pop(name, None)
    return module
