"""``sparrow fleet``: enrol and withdraw a job's devices (host/fleet.py), registered in the command table.

::

    sparrow fleet init fleet/ --job watch     # the host account and the job key (--tls: and a job CA)
    sparrow fleet add fleet/ --device 3       # account node-3, its password and frame key
    sparrow fleet remove fleet/ --device 3
    sparrow fleet list fleet/

Every change rewrites ``fleet/passwd`` and ``fleet/acl``; a running broker
reads them again on SIGHUP. docs/deploy.md shows how to run mosquitto on the
directory and how each device logs in.
"""
from __future__ import annotations

import argparse

from sparrow.common.cli import Subcommand, register
from sparrow.host.fleet import Fleet

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Actions of ``sparrow fleet``: init, add, remove, list."""
    actions = parser.add_subparsers(dest="fleet_action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="make a fleet directory with the host account and the job key")
    init.add_argument("dir", metavar="DIR", help="the fleet directory (created)")
    init.add_argument("--job", required=True, help="the job name (broker.job)")
    init.add_argument("--tls", action="store_true",
                      help="also make a job CA, the broker's certificate and a client certificate per account")
    init.add_argument("--tls-host", dest="tls_hosts", action="append", metavar="NAME",
                      help="a name or address clients reach the broker at (repeat; default localhost and 127.0.0.1)")
    for name, text in (("add", "enrol a device: its account, password and frame key"),
                       ("remove", "withdraw a device: its account, password and key are deleted")):
        action = actions.add_parser(name, help=text)
        action.add_argument("dir", metavar="DIR", help="the fleet directory")
        action.add_argument("--device", type=int, required=True, metavar="ID", help="device id (1..65535)")
    listing = actions.add_parser("list", help="the job, the host account and every device")
    listing.add_argument("dir", metavar="DIR", help="the fleet directory")


def run(args: argparse.Namespace) -> int:
    """Carry out one action; print what it made."""
    if args.fleet_action == "init":
        if args.tls_hosts and not args.tls:
            raise ValueError("--tls-host needs --tls")
        hosts = tuple(args.tls_hosts or ("localhost", "127.0.0.1")) if args.tls else ()
        fleet = Fleet.create(args.dir, args.job, tls_hosts=hosts)
        print(f"fleet of job {fleet.job} in {fleet.path}: host account {fleet.host_user} "
              f"({fleet.credentials_path(fleet.host_user)}), job key {fleet.key_path(None)}"
              + (f", job CA {fleet.tls_dir / 'ca.crt'}" if fleet.tls else ""))
        return 0
    fleet = Fleet.open(args.dir)
    if args.fleet_action == "add":
        user = fleet.add(args.device)
        print(f"device {args.device}: account {user} ({fleet.credentials_path(user)}), "
              f"frame key {fleet.key_path(args.device)}")
    elif args.fleet_action == "remove":
        fleet.remove(args.device)
        print(f"device {args.device} removed from job {fleet.job}")
    else:
        print(f"job {fleet.job}: host account {fleet.host_user}, {len(fleet.devices)} devices")
        for device in sorted(fleet.devices):
            print(f"{device}\t{fleet.devices[device]}")
    return 0


register(Subcommand("fleet", "manage a job's device accounts, ACL and keys", add_arguments, run))
