"""A shaped, delayed link between two network namespaces, for benchmarks and tests.

:class:`ShapedLink` builds, and always tears down, this (root needed)::

    namespace <name>-a ("agent")                 namespace <name>-b ("server")
    127.0.0.1:relay --[relay: +delay each way]-> 10.<x>.<y>.2 ==veth, tc htb==> 10.<x>.<y>.1

* Two namespaces ``sparrow-bench-<tag>-a`` and ``-b`` joined by a veth pair
  whose addresses exist only inside them.
* ``tc htb`` on both veth ends caps each direction at ``rate_bps`` (bits/s
  of IP packets, headers included).
* This kernel has no netem, so latency comes from :func:`relay`: a TCP relay
  of our own, run inside the agent namespace, that holds every chunk of bytes
  for ``delay_s`` in each direction before passing it on (round trip
  ``2 * delay_s``). A client in the agent namespace connects to the relay
  instead of the server.

Every process started through :meth:`ShapedLink.spawn` is stopped (by its own
id) and both namespaces are deleted on exit, on an exception or Ctrl-C
(SIGTERM and SIGINT are turned into KeyboardInterrupt while the link exists). ``python -m bench.netshape
cleanup`` removes namespaces left by a run that was killed hard.

Command line::

    python -m bench.netshape relay --listen 127.0.0.1:9000 --target 10.1.2.1:1883 --delay 0.02
    python -m bench.netshape cleanup
"""
from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[1]

__all__ = ["PREFIX", "ShapedLink", "cleanup", "netns_available", "relay"]

PREFIX = "sparrow-bench-"
"""Every namespace this module creates starts with this."""

_CHUNK = 16384


def netns_available() -> str | None:
    """None when namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} (iproute2) is not installed"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _netns(ns: str, *args: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, *args], check=True, capture_output=True, text=True)


def cleanup() -> list[str]:
    """Delete every namespace named ``sparrow-bench-*``; returns their names."""
    listing = subprocess.run(["ip", "netns", "list"], check=True, capture_output=True, text=True).stdout
    names = [line.split()[0] for line in listing.splitlines() if line.startswith(PREFIX)]
    for name in names:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return names


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class ShapedLink:
    """Two namespaces, a rate-limited veth between them, processes inside.

    Parameters
    ----------
    rate_bps : int
        Cap of each direction in bits per second.
    tag : str, optional
        Distinguishes concurrent links (default: this process id).

    Attributes
    ----------
    agent_ns, server_ns : str
        Namespace names.
    server_ip, agent_ip : str
        Addresses on the veth.

    Raises
    ------
    RuntimeError
        When namespaces cannot be made here (see :func:`netns_available`).
    ValueError
        For a rate below 8 kbit/s.
    """

    def __init__(self, rate_bps: int, tag: str | None = None) -> None:
        why = netns_available()
        if why is not None:
            raise RuntimeError(why)
        if rate_bps < 8000:
            raise ValueError(f"rate_bps must be >= 8000, got {rate_bps}")
        self.rate_bps = int(rate_bps)
        tag = tag or str(os.getpid())
        self.agent_ns = f"{PREFIX}{tag}-a"
        self.server_ns = f"{PREFIX}{tag}-b"
        # Interface names are limited to 15 bytes.
        digits = int("".join(c for c in tag if c.isdigit()) or "0")
        self._veth = (f"spa{digits % 10**8}", f"spb{digits % 10**8}")
        x, y = 64 + digits % 64, (digits // 64) % 64 * 4
        self.server_ip, self.agent_ip = f"10.{x}.{y}.1", f"10.{x}.{y}.2"
        self._procs: list[subprocess.Popen] = []
        self._old_signals: dict[int, object] = {}

    def __enter__(self) -> "ShapedLink":
        # Ctrl-C must reach the cleanup even where SIGINT was inherited as
        # ignored (a background job of a script), and so must SIGTERM.
        self._old_signals = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_on_sigterm),
                             signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)}
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _build(self) -> None:
        a, b = self._veth
        _ip("netns", "add", self.agent_ns)
        _ip("netns", "add", self.server_ns)
        _ip("link", "add", a, "type", "veth", "peer", "name", b)
        _ip("link", "set", a, "netns", self.agent_ns)
        _ip("link", "set", b, "netns", self.server_ns)
        for ns, dev, addr in ((self.agent_ns, a, self.agent_ip), (self.server_ns, b, self.server_ip)):
            _netns(ns, "ip", "link", "set", "lo", "up")
            _netns(ns, "ip", "addr", "add", f"{addr}/30", "dev", dev)
            # Segmentation offload would hand htb 64 KB super-packets, each
            # let through whole before the rate catches up.
            _netns(ns, "ip", "link", "set", dev, "gso_max_size", "1500", "gro_max_size", "1500")
            _netns(ns, "ip", "link", "set", dev, "up")
            self._shape(ns, dev)

    def _shape(self, ns: str, dev: str) -> None:
        # A small burst keeps the rate honest over short transfers; it must
        # still hold a full-size packet and a timer tick's worth of bytes.
        burst = max(1600, self.rate_bps // 8 // 1000)
        _netns(ns, "tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10")
        _netns(ns, "tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb",
               "rate", f"{self.rate_bps}bit", "ceil", f"{self.rate_bps}bit",
               "burst", str(burst), "cburst", str(burst))

    def spawn(self, side: str, argv: list[str], **popen: object) -> subprocess.Popen:
        """Start ``argv`` inside one namespace; it is stopped by :meth:`close`.

        Parameters
        ----------
        side : {"agent", "server"}
            Which namespace.
        argv : list of str
            The command.
        **popen
            Passed to :class:`subprocess.Popen` (stdout, stderr, env, ...).
        """
        if side not in ("agent", "server"):
            raise ValueError(f"side must be 'agent' or 'server', got {side!r}")
        ns = self.agent_ns if side == "agent" else self.server_ns
        popen.setdefault("cwd", str(REPO_ROOT))  # where `-m bench.<name>` resolves
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **popen)  # type: ignore[call-overload]
        self._procs.append(proc)
        return proc

    def start_relay(self, target_port: int, delay_s: float, listen_port: int = 9000) -> int:
        """Run :func:`relay` in the agent namespace towards the server; returns its port.

        The relay listens on the agent namespace's loopback (free of the
        shaping: the namespace is new, nothing else uses it).
        """
        proc = self.spawn("agent", [sys.executable, "-m", "bench.netshape", "relay",
                                    "--listen", f"127.0.0.1:{listen_port}",
                                    "--target", f"{self.server_ip}:{target_port}",
                                    "--delay", repr(delay_s)],
                          stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening"):
            raise RuntimeError(f"relay did not start: {line!r}")
        return listen_port

    def close(self) -> None:
        """Stop every spawned process and delete both namespaces."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        for ns in (self.agent_ns, self.server_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for signum, handler in self._old_signals.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._old_signals = {}


def _pump(src: socket.socket, dst: socket.socket, delay_s: float) -> None:
    """Copy src to dst, each chunk held until ``delay_s`` after it was read."""
    held: queue.Queue[tuple[float, bytes]] = queue.Queue()

    def writer() -> None:
        while True:
            due, data = held.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    while True:
        try:
            data = src.recv(_CHUNK)
        except OSError:
            data = b""
        held.put((time.monotonic() + delay_s, data))
        if not data:
            break
    thread.join()


def _serve(client: socket.socket, target: tuple[str, int], delay_s: float) -> None:
    with client, socket.create_connection(target) as upstream:
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up = threading.Thread(target=_pump, args=(client, upstream, delay_s), daemon=True)
        up.start()
        _pump(upstream, client, delay_s)
        up.join()


def relay(listen: tuple[str, int], target: tuple[str, int], delay_s: float) -> None:
    """Accept TCP connections on ``listen`` and relay each to ``target`` with a delay.

    Bytes in either direction are passed on ``delay_s`` after they arrive,
    in order; the relay prints ``listening`` once it accepts connections and
    runs until killed.
    """
    if delay_s < 0:
        raise ValueError(f"delay must be >= 0, got {delay_s}")
    server = socket.create_server(listen, reuse_port=False)
    print("listening", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=_serve, args=(client, target, delay_s), daemon=True).start()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    """Command line: ``relay`` or ``cleanup``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("relay", help="delaying TCP relay")
    r.add_argument("--listen", type=_address, required=True)
    r.add_argument("--target", type=_address, required=True)
    r.add_argument("--delay", type=float, default=0.0, help="seconds each way")
    sub.add_parser("cleanup", help="delete leftover sparrow-bench-* namespaces")
    args = parser.parse_args(argv)
    if args.command == "relay":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        relay(args.listen, args.target, args.delay)
    else:
        for name in cleanup():
            print("deleted", name)


if __name__ == "__main__":
    main()
