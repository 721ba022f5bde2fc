"""``sparrow gateway``: the serial gateway's subcommand (agent/gateway.py).

Importing this module registers the subcommand in the command table (sparrow.common.cli)::

    sparrow gateway --broker-port 1883 --broker-job watch \\
        --board socket://127.0.0.1:5555 --board /dev/ttyUSB0

Runs until the host announces the end of the job (``--no-exit-when-done``:
until SIGTERM or Ctrl-C), then prints one JSON line per board with what
was relayed.
"""
from __future__ import annotations

import argparse
import json
import signal
import threading

from sparrow.common.config import BrokerConfig, load_toml, section
from sparrow.agent.gateway import DEFAULT_BAUDRATE, Gateway
from sparrow.common import cli

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``sparrow gateway``: the boards, the serial speed and the broker."""
    parser.add_argument("--config", metavar="FILE", help="TOML config file (its [broker] table)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--board", dest="boards", action="append", required=True, metavar="URL",
                        help="pyserial URL of a board (/dev/ttyUSB0, socket://127.0.0.1:5555); "
                             "repeat once per board")
    parser.add_argument("--baudrate", type=int, default=DEFAULT_BAUDRATE, help="serial speed of the boards")
    parser.add_argument("--accounts", metavar="DIR",
                        help="log each board in with its device's account: DIR holds node-<id>.json files "
                             "(the credentials/ folder `sparrow fleet` writes)")
    parser.add_argument("--device-keys", default="", metavar="DIR",
                        help="key folder: each board's <ID>.key tags what the gateway says for it, job.key "
                             "checks what the host sends (docs/security-frames.md)")
    parser.add_argument("--exit-when-done", action=argparse.BooleanOptionalAction, default=True,
                        help="leave when the host announces the end of the job")
    cli.add_config_flags(parser, BrokerConfig, prefix="broker_")


def run(args: argparse.Namespace) -> int:
    """Bridge the boards until the job ends (or SIGTERM); print what each relayed."""
    broker = cli.config_from_args(BrokerConfig, section(load_toml(args.config), "broker"), args, prefix="broker_")
    gateway = Gateway(args.boards, broker, args.baudrate, accounts=args.accounts, device_keys=args.device_keys)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    gateway.start()
    try:
        while not stop.wait(0.2):
            if args.exit_when_done and gateway.done:
                break
    finally:
        gateway.stop()
    for row in gateway.report():
        print(json.dumps(row))
    return 0


cli.register(cli.Subcommand("gateway", "bridge UART-attached boards to MQTT", add_arguments, run))
