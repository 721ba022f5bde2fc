"""Each option's names come from the registry that implements it, and each name resolves."""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest

from sparrow.agent.config import AgentConfig
from sparrow.agent.node import Agent
from sparrow.common.cli import add_config_flags
from sparrow.common.config import BrokerConfig
from sparrow.host.config import HostConfig


def choice_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if "choices" in f.metadata]


#: Settings a name needs besides itself (the option's own rules, e.g. aware selection needs a top-k compressor).
COMPANIONS = {
    ("selection", "aware"): {"compressor": "exact"},
    ("comm", "segmented"): {"mode": "gradient", "selection": "topk"},
    ("compressor", "dense"): {"selection": "topk"},
    ("compressor", "random"): {"selection": "topk"},
    ("partition", "group"): {"dataset": "watch", "model": "cnn1d_watch"},
}


def agent_configs() -> list[tuple[str, str]]:
    return [(f.name, name) for f in choice_fields(AgentConfig) for name in f.metadata["choices"]]


def host_configs() -> list[tuple[str, str]]:
    return [(f.name, name) for f in choice_fields(HostConfig) for name in f.metadata["choices"]]


def test_both_configs_take_their_names_from_registries() -> None:
    assert {f.name for f in choice_fields(AgentConfig)} == {
        "partition", "compressor", "value_coding", "mode", "selection", "comm", "segment_plan"}
    assert {f.name for f in choice_fields(HostConfig)} == {
        "lr_schedule", "downlink", "downlink_method", "downlink_value_coding", "policy", "late", "mode", "selection",
        "comm"}


def test_model_averaging_has_one_name_on_both_sides() -> None:
    agent_modes = [n for f, n in agent_configs() if f == "mode"]
    host_modes = [n for f, n in host_configs() if f == "mode"]
    assert agent_modes == host_modes == ["gradient", "average"]


@pytest.mark.parametrize("option,name", agent_configs())
def test_every_agent_option_name_builds_a_working_node(option: str, name: str) -> None:
    config = AgentConfig(device_id=2, **{"model": "mlp_digits", option: name, **COMPANIONS.get((option, name), {})})
    node = Agent(config, BrokerConfig(job="unit"))
    assert node.upload.model_ready(0) is False


@pytest.mark.parametrize("option,name", host_configs())
def test_every_host_option_name_is_accepted(option: str, name: str) -> None:
    assert getattr(HostConfig(**{option: name}), option) == name


@pytest.mark.parametrize("cls,prefix", [(AgentConfig, "agent"), (HostConfig, "host")])
def test_an_unknown_name_is_refused_with_the_registrys_names(cls: type, prefix: str) -> None:
    for option in choice_fields(cls):
        with pytest.raises(ValueError, match=f"{prefix}.{option.name} must be one of .*{list(option.metadata['choices'])[0]}"):
            cls(**{option.name: "no-such-name"})


@pytest.mark.parametrize("cls", [AgentConfig, HostConfig])
def test_the_command_line_lists_each_registrys_names(cls: type) -> None:
    parser = argparse.ArgumentParser()
    add_config_flags(parser, cls)
    text = parser.format_help()
    for option in choice_fields(cls):
        assert "{" + ",".join(option.metadata["choices"]) + "}" in text
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "no-such-mode"])


def test_a_segmented_node_builds_only_the_state_its_mode_needs() -> None:
    single = Agent(AgentConfig(device_id=2, model="mlp_digits"), BrokerConfig(job="unit"))
    segmented = Agent(AgentConfig(device_id=2, model="mlp_digits", comm="segmented"), BrokerConfig(job="unit"))
    assert not hasattr(single.upload, "layer_memories") and not hasattr(single.upload.mode, "local")
    assert not hasattr(segmented.upload, "mode") and len(segmented.upload.layer_memories) > 0
    assert np.isnan(segmented.last_loss)
