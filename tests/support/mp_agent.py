"""Support of the MicroPython agent tests (no tests here).

The node's own modules (agent/mp/, on pytest's ``pythonpath``) run on CPython
too, with the frame twin under the top-level names a board gives it.
"""
from __future__ import annotations

import sys

from sparrow.agent import frame_twin, twin_chunk
from sparrow.host.lab.fleet import MICROPYTHON, MP_DIR, prepare_micropython_node, start_micropython_node, watch_share

# On a board the frame twin is top-level; on CPython it is part of sparrow.agent.
sys.modules.setdefault("frame_twin", frame_twin)
sys.modules.setdefault("twin_chunk", twin_chunk)

import mpnode  # noqa: E402
import shard_file  # noqa: E402

__all__ = ["MICROPYTHON", "MP_DIR", "mpnode", "prepare_micropython_node", "shard_file", "start_micropython_node",
           "watch_share"]
