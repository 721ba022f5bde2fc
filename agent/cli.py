"""``sparrow agent``: one Linux node's subcommand (registered in the command table)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging

from sparrow.agent.config import AgentConfig
from sparrow.common.cli import Subcommand, add_common_arguments, add_config_flags, config_from_args, register
from sparrow.common.config import BrokerConfig, load_toml, section

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``sparrow agent``: config file, broker and every AgentConfig field."""
    add_common_arguments(parser)
    add_config_flags(parser, AgentConfig)


def run(args: argparse.Namespace) -> int:
    """Work until the host ends the job; print what this node did as one JSON line."""
    from sparrow.agent.node import Agent
    file = load_toml(args.config)
    broker = config_from_args(BrokerConfig, section(file, "broker"), args, prefix="broker_")
    config = config_from_args(AgentConfig, section(file, "agent"), args)
    logging.getLogger(__name__).info("agent config: %s", dataclasses.asdict(config))
    agent = Agent(config, broker)
    agent.run()
    print(json.dumps({"device_id": config.device_id, "rounds": agent.rounds_done, **agent.outcomes,
                      "segments_sent": agent.segments_sent, "replans": agent.replans,
                      "auth_dropped": agent.gate.dropped}))
    return 0


register(Subcommand("agent", "run one Linux edge agent", add_arguments, run))
