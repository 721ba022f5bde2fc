"""The ``sparrow`` command: one console script, subcommands from a registry.

``sparrow host``, ``sparrow agent`` and ``sparrow demo`` are registered here;
another module adds a subcommand with :func:`register`::

    register(Subcommand("gateway", "bridge UART boards to MQTT", add_args, run))

Every setting comes from a TOML file (``--config``; tables ``[broker]``,
``[host]``, ``[agent]``, see docs/host.md) and can be overridden by a flag
named after the field: ``--rounds``, ``--broker-port``, ``--density`` ...
Flags are generated from the config dataclasses, so they never drift.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from sparrow.agent.config import AgentConfig, BrokerConfig, build, load_toml, section

__all__ = ["SUBCOMMANDS", "Subcommand", "add_config_flags", "config_from_args", "main", "register"]


@dataclass(frozen=True)
class Subcommand:
    """One ``sparrow <name>`` subcommand.

    Parameters
    ----------
    name, help : str
        Its name and one line of help.
    add_arguments : callable(parser)
        Adds its flags.
    run : callable(args) -> int
        Does the work; returns the exit status.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: Registry of subcommands by name.
SUBCOMMANDS: dict[str, Subcommand] = {}


def register(command: Subcommand) -> Subcommand:
    """Add a subcommand to :data:`SUBCOMMANDS` (a name may be registered once)."""
    if command.name in SUBCOMMANDS:
        raise ValueError(f"subcommand {command.name!r} is already registered")
    SUBCOMMANDS[command.name] = command
    return command


# -- flags generated from the config dataclasses ----------------------------------

def add_config_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """Add one ``--<prefix><field>`` flag per field of config dataclass ``cls``.

    Flags default to None, meaning "keep the file's (or the dataclass's) value".
    """
    group = parser.add_argument_group(f"{cls.__name__} (overrides the config file)")
    for field in dataclasses.fields(cls):
        flag = "--" + (prefix + field.name).replace("_", "-")
        dest = (prefix + field.name).replace("-", "_")
        default = field.default
        text = f"{cls.__name__}.{field.name} (default {default!r}; docs/host.md)"
        if isinstance(default, bool):
            group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            kind = type(default) if default is not None else str
            group.add_argument(flag, dest=dest, type=kind, default=None, metavar=kind.__name__.upper(),
                               help=text)


def config_from_args(cls: type, table: dict[str, Any], args: argparse.Namespace, prefix: str = "") -> Any:
    """Build ``cls`` from a config-file table and the flags :func:`add_config_flags` made."""
    overrides = {f.name: getattr(args, (prefix + f.name).replace("-", "_")) for f in dataclasses.fields(cls)}
    return build(cls, table, overrides)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML config file ([broker], [host], [agent])")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    add_config_flags(parser, BrokerConfig, prefix="broker_")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# -- sparrow host ------------------------------------------------------------------

def _host_args(parser: argparse.ArgumentParser) -> None:
    from sparrow.host.config import HostConfig
    _common(parser)
    parser.add_argument("--resume", action="store_true", help="continue from <run_dir>/checkpoint.pt")
    add_config_flags(parser, HostConfig)


def _host_run(args: argparse.Namespace) -> int:
    from sparrow.host.config import HostConfig
    from sparrow.host.server import Host
    file = load_toml(args.config)
    broker = config_from_args(BrokerConfig, section(file, "broker"), args, prefix="broker_")
    config = config_from_args(HostConfig, section(file, "host"), args)
    summary = Host(config, broker, resume=args.resume).run()
    print(json.dumps({"final_accuracy": summary.final_accuracy, "rounds": summary.rounds,
                      "bytes_up": summary.bytes_up, "compression_ratio": summary.compression_ratio,
                      "run_dir": os.path.abspath(config.run_dir)}))
    return 0


# -- sparrow agent -----------------------------------------------------------------

def _agent_args(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    add_config_flags(parser, AgentConfig)


def _agent_run(args: argparse.Namespace) -> int:
    from sparrow.agent.node import Agent
    file = load_toml(args.config)
    broker = config_from_args(BrokerConfig, section(file, "broker"), args, prefix="broker_")
    config = config_from_args(AgentConfig, section(file, "agent"), args)
    logging.getLogger(__name__).info("agent config: %s", dataclasses.asdict(config))
    agent = Agent(config, broker)
    agent.run()
    print(json.dumps({"device_id": config.device_id, "rounds": agent.rounds_done, **agent.outcomes,
                      "segments_sent": agent.segments_sent, "replans": agent.replanner.replans}))
    return 0


# -- sparrow demo ------------------------------------------------------------------

def _demo_args(parser: argparse.ArgumentParser) -> None:
    from sparrow.host.demo import add_demo_arguments
    add_demo_arguments(parser)


def _demo_run(args: argparse.Namespace) -> int:
    from sparrow.host.demo import run_demo
    return run_demo(args)


register(Subcommand("host", "run the trainer/aggregator", _host_args, _host_run))
register(Subcommand("agent", "run one Linux edge agent", _agent_args, _agent_run))
register(Subcommand("demo", "train Fashion-MNIST with a private broker, a host and agents", _demo_args, _demo_run))
import sparrow.agent.gateway_cli  # noqa: E402,F401  (registers "sparrow gateway")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sparrow`` console script."""
    parser = argparse.ArgumentParser(prog="sparrow", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS.values():
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(_run=command.run)
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "verbose", False))
    try:
        return int(args._run(args))
    except ValueError as exc:
        print(f"sparrow {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sparrow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
