"""A job's fleet directory: one broker account per device, the ACL that binds it to its topics, frame keys.

``sparrow fleet`` (host/fleet_cli.py) manages it; :meth:`Mosquitto.for_fleet
<sparrow.host.broker.Mosquitto.for_fleet>` starts a broker on it. The layout
is fixed (other tools read it)::

    DIR/fleet.json               {"job": ..., "host_user": "host", "devices": {"3": {"user": "node-3"}}}
    DIR/passwd                   mosquitto password file (hashed by ``mosquitto_passwd -U``)
    DIR/acl                      mosquitto ACL (host/fleet_acl.py), regenerated on every change
    DIR/credentials/<user>.json  {"username": ..., "password": ...}, mode 0600
    DIR/keys/job.key             the job's frame-signing key (host -> nodes): 64 hex digits + newline
    DIR/keys/<ID>.key            device ID's own frame key, same format
    DIR/tls/                     with ``init --tls`` only: the job CA, the broker's certificate and one
                                 client certificate per account (host/fleet_tls.py)

Device 0 is the host (the host signs as device 0); devices are 1..65535, as
``agent.device_id``. The password file and the ACL are rebuilt from
``fleet.json`` and ``credentials/`` after every change, so they never drift
from the device list; a running broker picks them up on SIGHUP
(:meth:`Mosquitto.reload <sparrow.host.broker.Mosquitto.reload>`).
Secrets are written with mode 0600 into directories of mode 0700.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sparrow.common.accounts import device_user, read_account
from sparrow.common.config import BrokerConfig
from sparrow.host.fleet_acl import fleet_acl
from sparrow.host.fleet_tls import CertificateAuthority, issue_client, issue_server, make_ca

__all__ = ["HOST_USER", "MAX_DEVICE", "Fleet", "device_user"]

HOST_USER = "host"
#: Device ids are ``agent.device_id``'s range; 0 is the host.
MAX_DEVICE = 65535
KEY_BYTES = 32
#: Account names go into ACL and password file lines: no spaces, colons or line breaks.
_USER_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _check_device(device: int) -> None:
    if isinstance(device, bool) or not isinstance(device, int) or not 1 <= device <= MAX_DEVICE:
        raise ValueError(f"device id must be an integer in [1, {MAX_DEVICE}] (0 is the host), got {device!r}")


def _write_private(path: Path, text: str, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically (``exclusive``: fail if it exists)."""
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        return
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _new_key(path: Path) -> None:
    """A new 32-byte frame key as 64 hex digits and a newline."""
    _write_private(path, os.urandom(KEY_BYTES).hex() + "\n", exclusive=True)


@dataclass
class Fleet:
    """The devices of one job and the files that let exactly them in.

    Use :meth:`create` for a new directory and :meth:`open` for an existing
    one; :meth:`add` and :meth:`remove` change it and rewrite the password
    file and the ACL.

    Parameters
    ----------
    path : Path
        The fleet directory.
    job : str
        The job name (``broker.job``): the ACL's topic root is ``sparrow/<job>``.
    devices : dict of int to str
        Device id -> broker account.
    host_user : str
        The host's broker account.
    """

    path: Path
    job: str
    devices: dict[int, str]
    host_user: str = HOST_USER

    # -- files ----------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.path / "fleet.json"

    @property
    def passwd_path(self) -> Path:
        return self.path / "passwd"

    @property
    def acl_path(self) -> Path:
        return self.path / "acl"

    def credentials_path(self, user: str) -> Path:
        return self.path / "credentials" / f"{user}.json"

    @property
    def tls_dir(self) -> Path:
        return self.path / "tls"

    @property
    def tls(self) -> bool:
        """Whether the fleet has a job CA (``init --tls``)."""
        return (self.tls_dir / "ca.crt").is_file()

    def key_path(self, device: int | None) -> Path:
        """``keys/job.key`` (``device`` None: the host's) or ``keys/<device>.key``."""
        return self.path / "keys" / ("job.key" if device is None else f"{device}.key")

    # -- life cycle ----------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], job: str, tls_hosts: tuple[str, ...] = ()) -> "Fleet":
        """Make a new fleet directory for ``job`` with the host account and the job key.

        With ``tls_hosts`` (the names or addresses clients reach the broker
        at) it also makes the job CA, the broker's certificate for those
        names and the host account's client certificate.

        Raises
        ------
        ValueError
            When ``job`` is not a valid job name or ``path`` is not a new or empty directory.
        """
        BrokerConfig(job=job)  # the job name check, with its message
        fleet = cls(Path(path), job, {})
        if fleet.manifest_path.exists():
            raise ValueError(f"{fleet.manifest_path} exists: {path} already holds a fleet")
        if fleet.path.exists() and (not fleet.path.is_dir() or any(fleet.path.iterdir())):
            raise ValueError(f"{path} exists and is not an empty directory: give a new one")
        for folder in (fleet.path, fleet.path / "credentials", fleet.path / "keys"):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fleet._new_account(fleet.host_user)
        _new_key(fleet.key_path(None))
        if tls_hosts:
            fleet.tls_dir.mkdir(mode=0o700)
            ca = make_ca(fleet.tls_dir, common_name=f"Sparrow job {job} CA")
            issue_server(ca, fleet.tls_dir, tls_hosts)
            issue_client(ca, fleet.tls_dir, fleet.host_user)
        fleet._save()
        return fleet

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> "Fleet":
        """Read the fleet in ``path``.

        Raises
        ------
        ValueError
            When ``path`` holds no fleet or its ``fleet.json`` is malformed.
        """
        manifest = Path(path) / "fleet.json"
        if not manifest.is_file():
            raise ValueError(f"{path}: no fleet here (no fleet.json; make one with `sparrow fleet init`)")
        try:
            data = json.loads(manifest.read_text())
            devices = {int(d): str(entry["user"]) for d, entry in data["devices"].items()}
            fleet = cls(Path(path), str(data["job"]), devices, str(data["host_user"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{manifest}: malformed fleet file ({exc!r})") from None
        for device in devices:
            _check_device(device)
        for user in [fleet.host_user, *devices.values()]:
            if not _USER_RE.match(user):
                raise ValueError(f"{manifest}: account name {user!r} is not 1-64 characters of [A-Za-z0-9_.-] "
                                 "(it goes into the ACL and the password file)")
        return fleet

    def add(self, device: int) -> str:
        """Enrol ``device``: a new account, password and frame key; returns its account.

        Raises
        ------
        ValueError
            For device 0, an id out of range or a device already enrolled.
        """
        _check_device(device)
        if device in self.devices:
            raise ValueError(f"device {device} is already in the fleet of job {self.job!r} "
                             f"(remove it first to issue new credentials)")
        user = device_user(device)
        self._new_account(user)
        _new_key(self.key_path(device))
        if self.tls:
            issue_client(self._ca(), self.tls_dir, user)
        self.devices[device] = user
        self._save()
        return user

    def remove(self, device: int) -> None:
        """Withdraw ``device``: its account, password and key are deleted, the ACL forgets it.

        Raises
        ------
        ValueError
            When ``device`` is not in the fleet.
        """
        _check_device(device)
        if device not in self.devices:
            raise ValueError(f"device {device} is not in the fleet of job {self.job!r}")
        user = self.devices.pop(device)
        self._save()
        self.credentials_path(user).unlink(missing_ok=True)
        self.key_path(device).unlink(missing_ok=True)
        for suffix in (".crt", ".key"):
            (self.tls_dir / f"{user}{suffix}").unlink(missing_ok=True)

    # -- use ----------------------------------------------------------------------

    def credentials(self, user: str) -> tuple[str, str]:
        """``(username, password)`` of account ``user``."""
        return read_account(self.credentials_path(user))

    def broker_config(self, base: BrokerConfig, device: int = 0) -> BrokerConfig:
        """``base`` logged in as the host (``device`` 0) or as an enrolled device (with its certificate under TLS)."""
        if device == 0:
            user = self.host_user
        elif device in self.devices:
            user = self.devices[device]
        else:
            raise ValueError(f"device {device} is not in the fleet of job {self.job!r}")
        username, password = self.credentials(user)
        config = dataclasses.replace(base, job=self.job, username=username, password=password)
        if self.tls:
            config = dataclasses.replace(config, tls_ca=str(self.tls_dir / "ca.crt"),
                                         tls_cert=str(self.tls_dir / f"{user}.crt"),
                                         tls_key=str(self.tls_dir / f"{user}.key"))
        return config

    def key_args(self, device: int) -> list[str]:
        """The ``sparrow agent`` flags that give enrolled ``device`` its frame key and the job key."""
        if device not in self.devices:
            raise ValueError(f"device {device} is not in the fleet of job {self.job!r}")
        return ["--key", str(self.key_path(device)), "--job-key", str(self.key_path(None))]

    def server_files(self) -> tuple[str, str, str] | None:
        """``(ca, certificate, key)`` of the broker's TLS listener, or None without ``init --tls``."""
        if not self.tls:
            return None
        return (str(self.tls_dir / "ca.crt"), str(self.tls_dir / "server.crt"), str(self.tls_dir / "server.key"))

    # -- internals -----------------------------------------------------------------

    def _ca(self) -> CertificateAuthority:
        return CertificateAuthority(str(self.tls_dir / "ca.crt"), str(self.tls_dir / "ca.key"))

    def _new_account(self, user: str) -> None:
        password = secrets.token_urlsafe(24)
        _write_private(self.credentials_path(user), json.dumps({"username": user, "password": password}) + "\n")

    def _save(self) -> None:
        """Write fleet.json, then rebuild the password file and the ACL from it."""
        manifest = {"job": self.job, "host_user": self.host_user,
                    "devices": {str(d): {"user": self.devices[d]} for d in sorted(self.devices)}}
        _write_private(self.manifest_path, json.dumps(manifest, indent=2) + "\n")
        self._write_passwd()
        _write_private(self.acl_path, fleet_acl(self.job, self.host_user, self.devices))

    def _write_passwd(self) -> None:
        """The password file of every account, hashed by ``mosquitto_passwd -U`` (no password on a command line)."""
        tool = shutil.which("mosquitto_passwd")
        if tool is None:
            raise FileNotFoundError("'mosquitto_passwd' not found; install the Debian package 'mosquitto'")
        users = [self.host_user] + [self.devices[d] for d in sorted(self.devices)]
        plain = "".join("%s:%s\n" % self.credentials(user) for user in users)
        staged = self.path / "passwd.new"
        _write_private(staged, plain)
        done = subprocess.run([tool, "-U", str(staged)], capture_output=True, text=True)
        if done.returncode != 0:
            staged.unlink(missing_ok=True)
            raise RuntimeError(f"mosquitto_passwd -U failed: {done.stderr.strip() or done.stdout.strip()}")
        os.replace(staged, self.passwd_path)
