"""``sparrow host``: the trainer/aggregator's subcommand (registered in the command table)."""
from __future__ import annotations

import argparse
import json
import os

from sparrow.common.cli import Subcommand, add_common_arguments, add_config_flags, config_from_args, register
from sparrow.common.config import BrokerConfig, load_toml, section
from sparrow.host.config import HostConfig

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``sparrow host``: config file, broker, ``--resume`` and every HostConfig field."""
    add_common_arguments(parser)
    parser.add_argument("--resume", action="store_true", help="continue from <run_dir>/checkpoint.pt")
    add_config_flags(parser, HostConfig)


def run(args: argparse.Namespace) -> int:
    """Train to the end; print the summary as one JSON line."""
    from sparrow.host.server import Host
    file = load_toml(args.config)
    broker = config_from_args(BrokerConfig, section(file, "broker"), args, prefix="broker_")
    config = config_from_args(HostConfig, section(file, "host"), args)
    summary = Host(config, broker, resume=args.resume).run()
    print(json.dumps({"final_accuracy": summary.final_accuracy,
                      "final_train_accuracy": summary.final_train_accuracy, "rounds": summary.rounds,
                      "bytes_up": summary.bytes_up, "bytes_down": summary.bytes_down,
                      "compression_ratio": summary.compression_ratio, "down_ratio": summary.down_ratio,
                      "total_ratio": summary.total_ratio, "total_bytes_per_node": summary.total_bytes_per_node,
                      "run_dir": os.path.abspath(config.run_dir)}))
    return 0


register(Subcommand("host", "run the trainer/aggregator", add_arguments, run))
