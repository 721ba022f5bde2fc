"""Benchmark of a mixed fleet: boards behind the gateway, CPython and MicroPython nodes.

Starts a private mosquitto, two QEMU boards (mps2-an386, riscv32-virt) behind
``sparrow gateway``, one ``sparrow agent`` and one MicroPython node, one watch
subject each, and trains ``cnn1d_watch`` for ``--rounds`` rounds with the
first board reset at ``--reset-at`` (host/lab/fleet.py, the same run as
tests/test_e2e_fleet.py). Prints one JSON object: accuracy before, by round
and after, per-node uploads and host verdicts, the gateway's per-board
report (HELLOs, model downloads, link counters), bytes and wall time.

Usage (``-P``: bench/select.py must not shadow the standard library's select):
  .venv/bin/python -m bench.fleet                  16 rounds, reset at round 6
  .venv/bin/python -m bench.fleet --rounds 30 --reset-at 0
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from sparrow.common.config import BrokerConfig
from sparrow.host.lab.fleet import FleetConfig, run_fleet
from sparrow.host.broker import Mosquitto


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--reset-at", type=int, default=6, help="round at which the first board is reset (0: never)")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--density", type=float, default=0.02)
    args = parser.parse_args()
    config = FleetConfig(rounds=args.rounds, reset_at_round=args.reset_at, lr=args.lr, density=args.density)
    with tempfile.TemporaryDirectory() as work, Mosquitto(workdir=work) as broker:
        runs = Path(work) / "fleet"
        runs.mkdir()
        broker_config = BrokerConfig(port=broker.port, job="fleet", keepalive_s=2, reconnect_min_s=0.1,
                                     reconnect_max_s=1.0)
        result = run_fleet(config, broker_config, runs)
    print(json.dumps(result.to_dict()))


if __name__ == "__main__":
    main()
