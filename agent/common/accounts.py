"""Broker accounts of a fleet's devices, as node-side code reads them (``sparrow fleet`` writes them).

A device's account is ``node-<id>``; its credentials file is
``<user>.json`` holding ``{"username": ..., "password": ...}`` (the fleet's
``credentials/`` folder, host/fleet.py). The gateway logs each board in
with its device's account (agent/gateway.py).
"""
from __future__ import annotations

import dataclasses
import json
import os

from sparrow.common.config import BrokerConfig

__all__ = ["device_account", "device_user", "read_account"]


def device_user(device: int) -> str:
    """The broker account of device ``device``."""
    return f"node-{device}"


def read_account(path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(username, password)`` from a credentials file.

    Raises
    ------
    ValueError
        When the file is missing or is not such a JSON object (the message names it).
    """
    try:
        with open(path) as handle:
            data = json.load(handle)
        username, password = data["username"], data["password"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: no usable broker account ({exc.__class__.__name__}: {exc})") from None
    if not (isinstance(username, str) and isinstance(password, str) and username):
        raise ValueError(f"{path}: username and password must be non-empty strings")
    return username, password


def device_account(broker: BrokerConfig, folder: str | os.PathLike[str], device: int) -> BrokerConfig:
    """``broker`` logged in as device ``device``, from ``folder/node-<device>.json``."""
    username, password = read_account(os.path.join(folder, f"{device_user(device)}.json"))
    return dataclasses.replace(broker, username=username, password=password)
