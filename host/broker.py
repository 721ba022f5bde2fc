"""A private mosquitto on a free loopback port, for demos, tests and benches.

The broker gets its own config file in a temporary directory:

``listener <port> 127.0.0.1``, ``allow_anonymous true``
    loopback only, so anonymous access reaches nobody else.
``log_dest stderr``
    its log goes to a file next to the config (``mosquitto.log``).
``persistence true`` in the temporary directory
    a broker restarted with :meth:`Mosquitto.restart` keeps sessions,
    queued messages and retained messages (it saves them on SIGTERM).
``set_tcp_nodelay true``
    small QoS 1 messages go out at once instead of waiting for Nagle's
    algorithm (about 40 ms per hop on loopback otherwise).
``max_queued_messages 10000``
    Sparrow relies on persistent sessions (a briefly offline node gets what
    it missed), so the queue must be deep enough to hold what a node misses
    in a few rounds: a chunked dense model is tens to hundreds of messages.
    It is bounded, not ``0`` (unlimited), because a node that never comes
    back would otherwise pin memory until its session expires; a node that
    lost messages to the bound sees a model-version gap and asks for a
    RESYNC, so the bound costs bytes, never correctness.

Two optional settings make the same loopback listener a secured one, the way
a deployment's broker is set up (tests/test_transport_tls.py runs Sparrow
against both):

``tls=TlsFiles(ca, cert, key)``
    the listener speaks TLS only (``cafile``, ``certfile``, ``keyfile``);
    with ``require_client_cert`` a client must also present a certificate
    signed by that CA (``require_certificate true``).
``password_file=path``
    ``allow_anonymous false`` and ``password_file``: every client must log in
    with a user name and password from that file (``mosquitto_passwd``).

A fleet's broker (:meth:`Mosquitto.for_fleet`, host/fleet.py) adds three
more, so that no client can act for another (docs/deploy.md):

``acl_file=path``
    the fleet's ACL: each account reads and writes only its own topics
    (host/fleet_acl.py).
``use_username_as_clientid true`` (``username_as_clientid=True``)
    the broker replaces the client id a client sends with its user name, so
    a client connecting with the host's client id under another account
    gets a session of its own instead of taking over the host's.
``max_packet_size`` (``max_packet_size=bytes``, :func:`packet_limit`)
    a client sending a larger MQTT packet is disconnected as soon as the
    broker reads the packet's length; MQTT 5 clients learn the limit from
    the CONNACK.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from types import TracebackType

from sparrow.common.config import BrokerConfig
from sparrow.common.spec_wire import MAX_SPEC_BYTES
from sparrow.host.fleet import Fleet

__all__ = ["PACKET_HEADROOM", "Mosquitto", "TlsFiles", "free_port", "packet_limit"]

MAX_QUEUED_MESSAGES = 10000
#: Bytes of an MQTT PUBLISH besides its payload, with room to spare: fixed header (5), topic
#: (2 + at most ~90 for ``sparrow/<64-character job>/update/<id>``), packet id (2), MQTT 5 properties.
PACKET_HEADROOM = 1024


def packet_limit(max_packet: int) -> int:
    """The broker's ``max_packet_size`` for a job chunking frames to ``max_packet`` payload bytes.

    The model description on ``spec`` is not chunked (at most
    ``MAX_SPEC_BYTES``), so the limit never goes below what it needs.
    """
    return max(max_packet, MAX_SPEC_BYTES) + PACKET_HEADROOM


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """The broker side of a TLS listener: PEM files and whether clients need a certificate.

    Parameters
    ----------
    ca : str
        CA certificate: the broker checks client certificates against it.
    cert, key : str
        The broker's own certificate (issued for ``127.0.0.1``/``localhost``)
        and its private key.
    require_client_cert : bool
        Refuse clients that present no certificate signed by ``ca``.
    """

    ca: str
    cert: str
    key: str
    require_client_cert: bool = False

    def __post_init__(self) -> None:
        for name in ("ca", "cert", "key"):
            path = getattr(self, name)
            if not os.path.isfile(path):
                raise ValueError(f"TlsFiles.{name}: no such file {path!r}")


class Mosquitto:
    """Start, restart and stop one private mosquitto.

    Parameters
    ----------
    port : int or None
        Port to listen on (None: a free one).
    workdir : str or None
        Where the config, log and persistence file go (None: a new
        temporary directory, removed by :meth:`stop`).
    executable : str
        The mosquitto binary.
    tls : TlsFiles or None
        Serve TLS only (None: plain TCP).
    password_file : str or None
        A ``mosquitto_passwd`` file; anonymous clients are refused when it is
        given (None: anonymous access, loopback only).
    acl_file : str or None
        A mosquitto ACL file (None: every client may use every topic).
    username_as_clientid : bool
        ``use_username_as_clientid true``: client ids are the user names
        (needs ``password_file``).
    max_packet_size : int or None
        Largest MQTT packet a client may send (None: no limit); see
        :func:`packet_limit`.

    Raises
    ------
    FileNotFoundError
        When mosquitto is not installed (``make apt-deps`` installs it).
    ValueError
        When ``password_file`` or ``acl_file`` does not exist, or
        ``username_as_clientid`` is asked for without a password file.
    """

    def __init__(self, port: int | None = None, workdir: str | None = None,
                 executable: str = "mosquitto", tls: TlsFiles | None = None,
                 password_file: str | None = None, acl_file: str | None = None,
                 username_as_clientid: bool = False, max_packet_size: int | None = None) -> None:
        for name, path in (("password_file", password_file), ("acl_file", acl_file)):
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"{name}: no such file {path!r}")
        if username_as_clientid and password_file is None:
            raise ValueError("username_as_clientid needs a password_file (anonymous clients have no user name)")
        if max_packet_size is not None and max_packet_size < 20:
            raise ValueError(f"max_packet_size must be >= 20 bytes (mosquitto's floor), got {max_packet_size}")
        found = shutil.which(executable) or shutil.which(executable, path="/usr/sbin:/usr/local/sbin")
        if found is None:
            raise FileNotFoundError(f"{executable!r} not found; install the Debian package 'mosquitto'")
        self.executable = found
        self.port = port if port is not None else free_port()
        self._own_dir = workdir is None
        self.workdir = workdir if workdir is not None else tempfile.mkdtemp(prefix="sparrow-mosquitto-")
        self.config_path = os.path.join(self.workdir, "mosquitto.conf")
        self.log_path = os.path.join(self.workdir, "mosquitto.log")
        self.tls = tls
        self.password_file = password_file
        self.acl_file = acl_file
        self.username_as_clientid = username_as_clientid
        self.max_packet_size = max_packet_size
        self.process: subprocess.Popen[bytes] | None = None
        self._write_config()

    def _access_lines(self) -> str:
        """The listener's TLS and authentication settings."""
        # Started as root, mosquitto switches to the user "mosquitto", who can
        # neither read the caller's private keys and password file nor write
        # its persistence file into the caller's work directory (so sessions
        # would not survive a restart); it stays the caller's user this way
        # (the setting is ignored when not root).
        lines = [f"user {pwd.getpwuid(os.geteuid()).pw_name}"]
        if self.tls is not None:
            lines += [f"cafile {self.tls.ca}", f"certfile {self.tls.cert}", f"keyfile {self.tls.key}"]
            if self.tls.require_client_cert:
                lines.append("require_certificate true")
        if self.username_as_clientid:
            lines.append("use_username_as_clientid true")
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        if self.max_packet_size is not None:
            lines.append(f"max_packet_size {self.max_packet_size}")
        return "".join(line + "\n" for line in lines)

    def _write_config(self) -> None:
        with open(self.config_path, "w") as handle:
            handle.write(
                f"listener {self.port} 127.0.0.1\n"
                f"{self._access_lines()}"
                "log_dest stderr\n"
                "log_type error\nlog_type warning\nlog_type notice\n"
                "persistence true\n"
                f"persistence_location {self.workdir}/\n"
                f"max_queued_messages {MAX_QUEUED_MESSAGES}\n"
                "set_tcp_nodelay true\n"
            )

    @classmethod
    def for_fleet(cls, fleet_dir: str | os.PathLike[str], max_packet: int = BrokerConfig.max_packet,
                  port: int | None = None, workdir: str | None = None) -> "Mosquitto":
        """A broker for the fleet in ``fleet_dir`` (host/fleet.py): its accounts, its ACL, bound client ids.

        ``max_packet`` is the job's chunk size (``broker.max_packet``); the
        broker's packet limit is :func:`packet_limit` of it. A fleet made
        with ``init --tls`` gets a TLS-only listener with its job CA's
        certificate that also demands a client certificate from that CA.
        """
        fleet = Fleet.open(os.path.abspath(fleet_dir))  # the broker may not share the caller's directory
        files = fleet.server_files()
        tls = TlsFiles(*files, require_client_cert=True) if files is not None else None
        return cls(port=port, workdir=workdir, tls=tls, password_file=str(fleet.passwd_path),
                   acl_file=str(fleet.acl_path), username_as_clientid=True,
                   max_packet_size=packet_limit(max_packet))

    def reload(self, settle_s: float = 0.5) -> None:
        """Have the running broker read its password file and ACL again (SIGHUP), e.g. after ``sparrow fleet add``.

        mosquitto acts on the signal in its main loop and logs nothing at
        the levels kept here, so this waits ``settle_s`` for it.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)
            time.sleep(settle_s)

    def start(self, timeout_s: float = 10.0) -> "Mosquitto":
        """Start the broker and wait until it accepts connections."""
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([self.executable, "-c", self.config_path], stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on port {self.port} within {timeout_s} s")

    def kill(self) -> None:
        """Stop the broker now (SIGTERM, then SIGKILL); keep the work directory."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the broker, stay down ``down_s`` seconds, start it on the same port."""
        self.kill()
        time.sleep(down_s)
        self.start()

    def stop(self) -> None:
        """Stop the broker and remove the temporary directory it owns."""
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, size: int = 2000) -> str:
        """The end of the broker's log."""
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read()[-size:].decode(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
