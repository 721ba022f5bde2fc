"""Configuration: validation on construction, TOML files, generated flags."""
from __future__ import annotations

import argparse

import pytest

from sparrow.agent.config import AgentConfig
from sparrow.common.config import BrokerConfig, build, load_toml, section
from sparrow.common.cli import Subcommand, add_config_flags, commands, config_from_args, register
from sparrow.host.config import HostConfig
from sparrow.host.policy import DeadlinePolicy, QuorumPolicy, make_policy


@pytest.mark.parametrize("field, value, message", [
    ("rounds", 0, "host.rounds"),
    ("lr", float("nan"), "host.lr"),
    ("momentum", 1.0, "host.momentum"),
    ("lr_schedule", "step", "host.lr_schedule"),
    ("batch_size", 70000, "host.batch_size"),
    ("downlink", "zip", "host.downlink"),
    ("policy", "vote", "host.policy"),
    ("fraction", 0.0, "host.fraction"),
    ("late", "keep", "host.late"),
    ("device", "tpu", "host.device"),
    ("max_staleness", -1, "host.max_staleness"),
])
def test_host_config_names_the_bad_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HostConfig(**{field: value})


@pytest.mark.parametrize("field, value, message", [
    ("port", 0, "broker.port"),
    ("port", 70000, "broker.port"),
    ("job", "a/b", "broker.job"),
    ("job", "+", "broker.job"),
    ("max_packet", 16, "broker.max_packet"),
    ("tls_ca", "/no/such/file.pem", "broker.tls_ca"),
    ("password", "secret", "broker.password"),
])
def test_broker_config_names_the_bad_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BrokerConfig(**{field: value})


def test_broker_config_wants_certificate_and_key_together(tmp_path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("-")
    with pytest.raises(ValueError, match="together"):
        BrokerConfig(tls_ca=str(pem), tls_cert=str(pem))


@pytest.mark.parametrize("field, value, message", [
    ("node_index", 4, "agent.node_index"),
    ("compressor", "zip", "agent.compressor"),
    ("density", 0.0, "agent.density"),
    ("density", 1.5, "agent.density"),
    ("value_coding", "fp8", "agent.value_coding"),
    ("partition", "random", "agent.partition"),
    ("device_id", 70000, "agent.device_id"),
])
def test_agent_config_names_the_bad_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AgentConfig(**{"num_nodes": 4, field: value})


def test_build_refuses_unknown_keys_and_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown keys \\['roundz'\\].*rounds"):
        build(HostConfig, {"roundz": 3})


def test_build_lets_non_none_overrides_win_over_the_file() -> None:
    config = build(HostConfig, {"rounds": 3, "lr": 0.5}, {"rounds": 7, "lr": None})
    assert (config.rounds, config.lr) == (7, 0.5)


def test_toml_file_sections_become_configs(tmp_path) -> None:
    path = tmp_path / "job.toml"
    path.write_text('[broker]\nport = 1999\njob = "farm"\n[host]\nrounds = 12\ndownlink = "delta"\n'
                    '[agent]\ndevice_id = 3\ncompressor = "dgc"\n')
    file = load_toml(str(path))
    assert build(BrokerConfig, section(file, "broker")).job == "farm"
    assert build(HostConfig, section(file, "host")).downlink == "delta"
    assert build(AgentConfig, section(file, "agent")).compressor == "dgc"
    assert section(file, "missing") == {}


def test_a_broken_toml_file_is_reported_with_its_name(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[host\nrounds = 3\n")
    with pytest.raises(ValueError, match="bad.toml"):
        load_toml(str(path))


def test_flags_are_generated_from_the_dataclass_and_override_the_file() -> None:
    parser = argparse.ArgumentParser()
    add_config_flags(parser, HostConfig)
    add_config_flags(parser, BrokerConfig, prefix="broker_")
    args = parser.parse_args(["--rounds", "9", "--no-progress", "--broker-port", "2000", "--deadline-s", "1.5"])
    host = config_from_args(HostConfig, {"rounds": 3, "lr": 0.3}, args)
    broker = config_from_args(BrokerConfig, {}, args, prefix="broker_")
    assert (host.rounds, host.lr, host.progress, host.deadline_s) == (9, 0.3, False, 1.5)
    assert broker.port == 2000


def test_subcommands_come_from_a_registry_that_refuses_a_second_entry_of_a_name() -> None:
    SUBCOMMANDS = commands()
    assert {"host", "agent", "demo"} <= set(SUBCOMMANDS)
    with pytest.raises(ValueError, match="already registered"):
        register(Subcommand("host", "again", lambda p: None, lambda a: 0))


def test_policy_registry_builds_the_configured_policy() -> None:
    assert isinstance(make_policy(HostConfig(policy="quorum")), QuorumPolicy)
    assert isinstance(make_policy(HostConfig(policy="deadline")), DeadlinePolicy)


def test_quorum_is_bounded_by_the_nodes_online_so_a_vanished_node_cannot_stall() -> None:
    policy = QuorumPolicy(min_nodes=4, fraction=1.0, deadline_s=10.0)
    plan = policy.configure(1, online=4, now=0.0)
    assert policy.close_reason(plan, received=3, online=4, now=1.0) is None
    assert policy.close_reason(plan, received=3, online=3, now=1.0) == "quorum"
    assert policy.close_reason(plan, received=1, online=4, now=10.0) == "deadline"
    assert policy.close_reason(plan, received=0, online=4, now=99.0) is None


def test_quorum_fraction_rounds_up() -> None:
    policy = QuorumPolicy(min_nodes=1, fraction=0.5, deadline_s=10.0)
    assert [policy.quorum(k) for k in (1, 2, 3, 8)] == [1, 1, 2, 4]


def test_deadline_policy_waits_for_the_deadline_unless_everyone_answered() -> None:
    policy = DeadlinePolicy(deadline_s=5.0)
    plan = policy.configure(2, online=3, now=0.0)
    assert policy.close_reason(plan, received=2, online=3, now=1.0) is None
    assert policy.close_reason(plan, received=3, online=3, now=1.0) == "all"
    assert policy.close_reason(plan, received=2, online=3, now=5.0) == "deadline"
