"""The mosquitto ACL of a Sparrow fleet: which account may read and write which topic of the job.

The file is regenerated from the fleet's device list (host/fleet.py) on
every change, one ``user`` block per account with explicit ``topic`` lines.
Per-user entries, not ``pattern`` lines: a pattern can only put the whole
user name (``%u``) or client id (``%c``) into a topic level, and Sparrow's
per-device topics end in the bare device id (``update/3``) while the
account is ``node-3``; a pattern would also grant every account of the
broker, not only the devices this job enrolled.

What each account may do (docs/TOPICS.md lists who publishes what):

* the host account writes ``model``, ``round``, ``spec``, ``support``,
  ``sync/<any>``, ``ack/<any>`` and its own ``status/host``, and reads every
  device's ``update``, ``control``, ``metrics`` and ``status``;
* device ``d`` writes only ``update/d``, ``control/d``, ``metrics/d`` and
  ``status/d`` (its Last Will too), and reads only ``model``, ``round``,
  ``spec``, ``support``, ``status/host``, ``sync/d`` and ``ack/d``.

Anything not listed is denied: a device cannot publish a model or a round
pointer, write another device's topics, or read another device's
acknowledgements; anonymous clients get nothing (the broker refuses them
anyway, ``allow_anonymous false``).
"""
from __future__ import annotations

from typing import Iterable

__all__ = ["HOST_READS", "HOST_WRITES", "device_grants", "fleet_acl", "host_grants"]

#: Topics (below ``sparrow/<job>/``) the host account publishes on.
HOST_WRITES = ("model", "round", "spec", "support", "sync/#", "ack/#", "status/host")
#: Topics the host account subscribes to.
HOST_READS = ("update/#", "control/#", "metrics/#", "status/#")
#: Broadcast topics every device reads.
DEVICE_BROADCASTS = ("model", "round", "spec", "support", "status/host")
#: Per-device topics a device publishes on (its own id only).
DEVICE_WRITES = ("update", "control", "metrics", "status")
#: Per-device topics the host addresses to one device (its own id only).
DEVICE_INBOX = ("sync", "ack")


def host_grants(root: str) -> list[tuple[str, str]]:
    """``(access, topic)`` lines of the host account for topic root ``sparrow/<job>``."""
    return ([("write", f"{root}/{t}") for t in HOST_WRITES]
            + [("read", f"{root}/{t}") for t in HOST_READS])


def device_grants(root: str, device: int) -> list[tuple[str, str]]:
    """``(access, topic)`` lines of device ``device``'s account."""
    return ([("write", f"{root}/{t}/{device}") for t in DEVICE_WRITES]
            + [("read", f"{root}/{t}") for t in DEVICE_BROADCASTS]
            + [("read", f"{root}/{t}/{device}") for t in DEVICE_INBOX])


def _block(user: str, grants: Iterable[tuple[str, str]]) -> str:
    return f"user {user}\n" + "".join(f"topic {access} {topic}\n" for access, topic in grants)


def fleet_acl(job: str, host_user: str, devices: dict[int, str]) -> str:
    """The ACL file's text for job ``job``: the host account, then ``devices`` (id -> user) by id."""
    root = f"sparrow/{job}"
    blocks = [_block(host_user, host_grants(root))]
    blocks += [_block(devices[d], device_grants(root, d)) for d in sorted(devices)]
    header = (f"# mosquitto ACL of Sparrow job {job!r}, written by `sparrow fleet` from fleet.json:\n"
              "# edits here are overwritten on the next change (docs/deploy.md).\n")
    return header + "\n".join(blocks)
