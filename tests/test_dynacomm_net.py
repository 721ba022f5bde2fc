"""The shaping harness of the DynaComm bench: namespaces, tc htb rate, relay delay.

These check that the harness does what it claims (a known payload takes the
time the shaped rate says; the relay adds its delay), not any speed target.
They need root and iproute2 and are skipped otherwise.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _netshape() -> ModuleType:
    spec = importlib.util.spec_from_file_location("netshape", ROOT / "bench" / "netshape.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


netshape = _netshape()
pytestmark = pytest.mark.skipif(netshape.netns_available() is not None,
                                reason=str(netshape.netns_available()))

# Accepts one connection, reads until EOF, answers one byte.
SINK = """
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
conn, _ = server.accept()
while conn.recv(65536):
    pass
conn.sendall(b"k")
conn.close()
"""

# Sends argv[3] bytes to argv[1]:argv[2], waits for the sink's byte, prints seconds.
SOURCE = """
import socket, sys, time
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
payload = bytes(int(sys.argv[3]))
start = time.monotonic()
sock.sendall(payload)
sock.shutdown(socket.SHUT_WR)
assert sock.recv(1) == b"k"
print(time.monotonic() - start, flush=True)
"""


def _timed_transfer(link: "netshape.ShapedLink", host: str, port: int, nbytes: int) -> float:
    sink = link.spawn("server", [sys.executable, "-c", SINK, "7000"], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    out = subprocess.run(["ip", "netns", "exec", link.agent_ns, sys.executable, "-c", SOURCE,
                          host, str(port), str(nbytes)],
                         check=True, capture_output=True, text=True, timeout=15)
    sink.wait(timeout=5)
    return float(out.stdout)


def test_a_known_payload_crosses_the_shaped_link_at_the_shaped_rate() -> None:
    rate = 2_000_000
    nbytes = 400_000  # 1.6 s at 2 Mbit/s of payload; TCP/IP headers add about 4 %
    with netshape.ShapedLink(rate, tag=f"t{time.monotonic_ns() % 10**6}") as link:
        seconds = _timed_transfer(link, link.server_ip, 7000, nbytes)
    expected = nbytes * 8 / rate
    # htb starts with a full bucket (a few KB) and headers add ~4 %: a loose bound.
    assert expected * 0.85 < seconds < expected * 1.35


def test_the_relay_adds_its_delay_in_each_direction() -> None:
    delay = 0.1
    with netshape.ShapedLink(50_000_000, tag=f"t{time.monotonic_ns() % 10**6}") as link:
        port = link.start_relay(7000, delay)
        seconds = _timed_transfer(link, "127.0.0.1", port, 1000)
    # The source waits for its bytes to go through and the answer to come back.
    assert 2 * delay <= seconds < 2 * delay + 0.15


def test_closing_the_link_removes_its_namespaces() -> None:
    tag = f"t{time.monotonic_ns() % 10**6}"
    with netshape.ShapedLink(1_000_000, tag=tag) as link:
        names = (link.agent_ns, link.server_ns)
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert all(name in listed for name in names)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in listed for name in names)
