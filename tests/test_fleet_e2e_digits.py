"""End to end on a fleet's broker: the host and 2 agent processes, each with its own account, train digits.

The broker is the one ``sparrow fleet`` sets up (accounts, ACL, client ids
bound to user names, packet limit; the ``fleet_broker`` fixture); agents get
their account in a 0600 TOML file (host/lab/processes.py). Everything a
round needs (spec, model, pointer, HELLO, updates, ACKs, metrics, status)
must pass the ACL, or the job would stall or reject updates. The fleet's
frame keys are in use too (``Fleet.key_args``, ``host.device_keys``): every
frame both ways is tagged and checked, as in ``sparrow demo``.
"""
from __future__ import annotations

import json

import pytest

from sparrow.host.config import HostConfig
from sparrow.host.lab.processes import start_agents, stop_processes
from sparrow.host.server import Host

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROUNDS = 40


def test_host_and_two_agents_with_their_own_accounts_and_keys_train_digits_through_the_acl(fleet_broker, tmp_path) -> None:
    agents = start_agents(fleet_broker.base, 2, "digits", "mlp_digits",
                          ["--compressor", "laplace", "--density", "0.05"], str(tmp_path),
                          broker_for=fleet_broker.config, extra_for=fleet_broker.fleet.key_args)
    try:
        config = HostConfig(dataset="digits", model="mlp_digits", rounds=ROUNDS, lr=0.1, momentum=0.9,
                            batch_size=32, min_nodes=2, deadline_s=20.0, eval_every=10,
                            run_dir=str(tmp_path / "run"), progress=False,
                            device_keys=str(fleet_broker.fleet.key_path(None).parent))
        summary = Host(config, fleet_broker.config(0)).run()
        logs = "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted(tmp_path.glob("agent-*.log")))
        assert summary.rounds == ROUNDS
        assert summary.updates == 2 * ROUNDS and summary.rejected == 0, logs
        assert set(summary.per_device) == {"1", "2"}, summary.per_device
        assert all(counts.get("accepted") == ROUNDS for counts in summary.per_device.values()), summary.per_device
        assert summary.nodes == 2  # both HELLOs passed (control/<id>)
        assert summary.final_train_accuracy is not None  # the nodes' round statistics passed (metrics/<id>)
        assert summary.final_accuracy >= 0.8, logs
        for process in agents:
            assert process.wait(timeout=15) == 0, logs  # they saw the DONE pointer (round)
    finally:
        stop_processes([p for p in agents if p.poll() is None], grace_s=0.1)
    for device in (1, 2):
        report = json.loads((tmp_path / f"agent-{device}.log").read_text().splitlines()[-1])
        assert report["accepted"] == ROUNDS, report  # every ACK reached its node (ack/<id>)
        assert report["auth_dropped"] == 0, report  # every host frame verified under the job key
