"""The ``sparrow`` command: one console script, subcommands from a command table.

:data:`COMMAND_MODULES` is the command table: the modules that each register
one subcommand with :func:`register` when imported (``sparrow host``,
``sparrow agent``, ``sparrow gateway``, ``sparrow demo``, ``sparrow fleet`` ...). They are imported
by name when the command runs, so this shared layer imports neither the host
nor the node package, and a machine without PyTorch still runs
``sparrow agent``::

    register(Subcommand("gateway", "bridge UART boards to MQTT", add_args, run))

Every setting comes from a TOML file (``--config``; tables ``[broker]``,
``[host]``, ``[agent]``, see docs/host.md) and can be overridden by a flag
named after the field: ``--rounds``, ``--broker-port``, ``--density`` ...
Flags are generated from the config dataclasses, so they never drift; a
field whose values come from a registry lists them (``choices``).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from sparrow.common.config import BrokerConfig, build

__all__ = ["COMMAND_MODULES", "SUBCOMMANDS", "Subcommand", "add_common_arguments", "add_config_flags", "commands",
           "config_from_args", "main", "register"]

#: The command table: each module registers one subcommand when imported.
COMMAND_MODULES = (
    "sparrow.host.cli",
    "sparrow.agent.cli",
    "sparrow.agent.gateway_cli",
    "sparrow.agent.data_cli",
    "sparrow.host.demo",
    "sparrow.host.fleet_cli",
    "sparrow.host.export",
    "sparrow.common.scaffold",
)


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
    A field declared with ``metadata={"choices": REGISTRY}`` accepts only the
    registry's names, and ``--help`` lists them.
    """
    group = parser.add_argument_group(f"{cls.__name__} (overrides the config file)")
    for field in dataclasses.fields(cls):
        flag = "--" + (prefix + field.name).replace("_", "-")
        dest = (prefix + field.name).replace("-", "_")
        default = field.default
        text = f"{cls.__name__}.{field.name} (default {default!r}; docs/host.md)"
        choices = field.metadata.get("choices")
        if isinstance(default, bool):
            group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif choices is not None:
            group.add_argument(flag, dest=dest, choices=tuple(choices), default=None, help=text)
        else:
            kind = type(default) if default is not None else str
            group.add_argument(flag, dest=dest, type=kind, default=None, metavar=kind.__name__.upper(),
                               help=text)


def config_from_args(cls: type, table: dict[str, Any], args: argparse.Namespace, prefix: str = "") -> Any:
    """Build ``cls`` from a config-file table and the flags :func:`add_config_flags` made."""
    overrides = {f.name: getattr(args, (prefix + f.name).replace("-", "_")) for f in dataclasses.fields(cls)}
    return build(cls, table, overrides)


def commands() -> dict[str, Subcommand]:
    """Import the command table's modules (each registers itself) and return :data:`SUBCOMMANDS`."""
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    return SUBCOMMANDS


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``-v`` and the ``--broker-*`` flags every networked subcommand takes."""
    parser.add_argument("--config", metavar="FILE", help="TOML config file ([broker], [host], [agent])")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    add_config_flags(parser, BrokerConfig, prefix="broker_")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sparrow`` console script."""
    parser = argparse.ArgumentParser(prog="sparrow", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands().values():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(_run=command.run)
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "verbose", False))
    try:
        return int(args._run(args))
    except (ValueError, TimeoutError) as exc:  # a config the user must fix, a broker that cannot be reached
        print(f"sparrow {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sparrow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run the imported module's main: the command modules register into its table, not into __main__'s.
    from sparrow.common.cli import main as table_main
    sys.exit(table_main())
