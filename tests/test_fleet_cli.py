"""``sparrow fleet``: init, add, remove, list through the real command, the files it writes, its errors.

The on-disk layout is fixed (host/fleet.py); these tests read it back as a
deployment would: mosquitto's own ``passwd`` and ``acl`` files, the
credentials, the frame keys and their modes.
"""
from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sparrow.common.config import BrokerConfig
from sparrow.host.broker import Mosquitto
from sparrow.host.fleet import Fleet
from support.fleet_broker import RawClient

pytestmark = pytest.mark.timeout(60)

SPARROW = [sys.executable, "-m", "sparrow.common.cli", "fleet"]


def fleet(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SPARROW, *map(str, args)], capture_output=True, text=True, timeout=30)


def ok(*args: str | Path) -> str:
    done = fleet(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def one_line_error(*args: str | Path) -> str:
    done = fleet(*args)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, lines
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_key(path: Path) -> None:
    text = path.read_text()
    assert len(text) == 65 and text.endswith("\n") and bytes.fromhex(text[:64]), text
    assert mode(path) == 0o600


def test_add_remove_and_list_round_trip_through_the_files_mosquitto_reads(tmp_path: Path) -> None:
    folder = tmp_path / "fleet"
    ok("init", folder, "--job", "watch")
    assert json.loads((folder / "fleet.json").read_text()) == {"job": "watch", "host_user": "host", "devices": {}}
    assert_key(folder / "keys" / "job.key")
    for device in ("3", "12"):
        assert "node-" + device in ok("add", folder, "--device", device)
    manifest = json.loads((folder / "fleet.json").read_text())
    assert manifest["devices"] == {"3": {"user": "node-3"}, "12": {"user": "node-12"}}
    for user in ("host", "node-3", "node-12"):
        credentials = folder / "credentials" / f"{user}.json"
        assert mode(credentials) == 0o600
        assert json.loads(credentials.read_text())["username"] == user
    assert_key(folder / "keys" / "3.key")
    assert_key(folder / "keys" / "12.key")
    keys = {(folder / "keys" / name).read_text() for name in ("job.key", "3.key", "12.key")}
    assert len(keys) == 3
    users = [line.split(":", 1)[0] for line in (folder / "passwd").read_text().splitlines()]
    assert users == ["host", "node-3", "node-12"]
    password = json.loads((folder / "credentials" / "node-3.json").read_text())["password"]
    assert password not in (folder / "passwd").read_text()  # hashed
    acl = (folder / "acl").read_text()
    assert "user node-3\n" in acl and "topic write sparrow/watch/update/3\n" in acl
    assert "topic write sparrow/watch/update/12\n" in acl
    assert ok("list", folder).splitlines() == ["job watch: host account host, 2 devices", "3\tnode-3", "12\tnode-12"]

    ok("remove", folder, "--device", "3")
    assert json.loads((folder / "fleet.json").read_text())["devices"] == {"12": {"user": "node-12"}}
    assert not (folder / "credentials" / "node-3.json").exists()
    assert not (folder / "keys" / "3.key").exists()
    assert "node-3" not in (folder / "passwd").read_text()
    assert "node-3" not in (folder / "acl").read_text() and "/3\n" not in (folder / "acl").read_text()
    assert ok("list", folder).splitlines() == ["job watch: host account host, 1 devices", "12\tnode-12"]


def test_user_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    folder = tmp_path / "fleet"
    assert "no fleet here" in one_line_error("add", folder, "--device", "1")
    ok("init", folder, "--job", "watch")
    ok("add", folder, "--device", "1")
    assert "already holds a fleet" in one_line_error("init", folder, "--job", "watch")
    assert "device 1 is already in the fleet" in one_line_error("add", folder, "--device", "1")
    assert "0 is the host" in one_line_error("add", folder, "--device", "0")
    assert "[1, 65535]" in one_line_error("add", folder, "--device", "65536")
    assert "device 7 is not in the fleet" in one_line_error("remove", folder, "--device", "7")
    assert "broker.job" in one_line_error("init", tmp_path / "other", "--job", "a/b")
    assert not (tmp_path / "other").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "something").write_text("")
    assert "not an empty directory" in one_line_error("init", tmp_path / "busy", "--job", "watch")
    # Nothing of the failed calls changed the fleet.
    assert ok("list", folder).splitlines() == ["job watch: host account host, 1 devices", "1\tnode-1"]
    # A hand-edited fleet.json cannot smuggle lines into the ACL.
    manifest = json.loads((folder / "fleet.json").read_text())
    manifest["devices"]["1"]["user"] = "node-1\ntopic readwrite #"
    (folder / "fleet.json").write_text(json.dumps(manifest))
    assert "is not 1-64 characters" in one_line_error("add", folder, "--device", "2")
    (folder / "fleet.json").write_text("{not json")
    assert "malformed fleet file" in one_line_error("list", folder)


def test_a_device_added_to_a_running_broker_logs_in_after_a_reload_and_a_removed_one_no_longer(
        tmp_path: Path) -> None:
    folder = tmp_path / "fleet"
    ok("init", folder, "--job", "watch")
    ok("add", folder, "--device", "1")
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    with Mosquitto.for_fleet(folder, workdir=str(workdir)) as broker:
        base = BrokerConfig(port=broker.port, job="watch")

        def connack(device: int) -> bool:
            client = RawClient(Fleet.open(folder).broker_config(base, device), f"probe-{device}")
            client.close()
            return not client.connack.is_failure  # type: ignore[union-attr]

        ok("add", folder, "--device", "2")
        broker.reload()
        assert connack(1) and connack(2)
        old = Fleet.open(folder).broker_config(base, 1)
        still_connected = RawClient(old, "connected-while-removed")
        assert not still_connected.publish("sparrow/watch/update/1", b"x").is_failure
        ok("remove", folder, "--device", "1")
        broker.reload()
        # mosquitto checks its connected clients again on reload: the removed account's connection is closed.
        still_connected.wait(lambda: bool(still_connected.disconnects), "the removed device stayed connected")
        still_connected.close()
        refused = RawClient(old, "probe-removed")
        refused.close()
        assert refused.connack is not None and refused.connack.is_failure
        assert connack(2)


def test_the_demo_makes_its_fleet_once_and_grows_it_when_rerun_with_more_nodes(tmp_path: Path) -> None:
    from sparrow.host.demo import _demo_fleet

    first = _demo_fleet(str(tmp_path / "fleet"), 2)
    password = first.credentials("node-1")
    again = _demo_fleet(str(tmp_path / "fleet"), 3)
    assert (again.job, sorted(again.devices)) == ("demo", [1, 2, 3])
    assert again.credentials("node-1") == password  # the accounts made before are kept
