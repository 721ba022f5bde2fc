"""A job's own certificate authority, made and used with the ``openssl`` command.

``sparrow fleet init --tls`` makes the CA and the broker's certificate;
every account (the host's at init, each device's at ``add``) gets a client
certificate signed by it. The files live in ``DIR/tls/`` (host/fleet.py)::

    ca.crt, ca.key            the job CA (the key signs; keep it off the broker if you can)
    server.crt, server.key    the broker's certificate, for the names given to init
    <user>.crt, <user>.key    an account's client certificate (clientAuth)

Keys are P-256 (EC), unencrypted, mode 0600: fast to make, accepted by
mosquitto and paho. The broker's certificate carries the names clients
connect to as subjectAltName entries, which Python's hostname check
compares with ``broker.host``.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CertificateAuthority", "issue_client", "issue_server", "make_ca"]

_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str) -> None:
    found = shutil.which("openssl")
    if found is None:
        raise FileNotFoundError("'openssl' not found; install the Debian package 'openssl'")
    done = subprocess.run([found, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA: its certificate and the key that signs with it."""

    cert: str
    key: str


def make_ca(directory: Path, name: str = "ca", common_name: str = "Sparrow job CA",
            days: int = 3650) -> CertificateAuthority:
    """A new self-signed CA as ``<name>.crt`` and ``<name>.key`` (0600) in ``directory``."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _openssl("req", "-x509", *_EC_KEY, "-keyout", str(key), "-out", str(cert), "-days", str(days),
             "-subj", f"/CN={common_name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    os.chmod(key, 0o600)
    return CertificateAuthority(str(cert), str(key))


def _issue(ca: CertificateAuthority, directory: Path, name: str, common_name: str, extensions: str,
           days: int) -> tuple[str, str]:
    """Have ``ca`` sign a new key for ``common_name``; returns (certificate, key) paths."""
    cert, key, request = directory / f"{name}.crt", directory / f"{name}.key", directory / f"{name}.csr"
    ext_file = directory / f"{name}.ext"
    ext_file.write_text(extensions + "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    try:
        _openssl("req", "-new", *_EC_KEY, "-keyout", str(key), "-out", str(request), "-subj", f"/CN={common_name}")
        os.chmod(key, 0o600)
        _openssl("x509", "-req", "-in", str(request), "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
                 "-out", str(cert), "-days", str(days), "-extfile", str(ext_file))
    finally:
        request.unlink(missing_ok=True)
        ext_file.unlink(missing_ok=True)
    return str(cert), str(key)


def _alt_name(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"DNS:{host}"
    return f"IP:{host}"


def issue_server(ca: CertificateAuthority, directory: Path, hosts: tuple[str, ...], name: str = "server",
                 days: int = 825) -> tuple[str, str]:
    """The broker's certificate for ``hosts`` (names or addresses clients connect to)."""
    if not hosts:
        raise ValueError("the broker certificate needs at least one host name or address")
    names = ",".join(_alt_name(h) for h in hosts)
    return _issue(ca, directory, name, hosts[0],
                  f"basicConstraints=CA:FALSE\nsubjectAltName={names}\nextendedKeyUsage=serverAuth\n", days)


def issue_client(ca: CertificateAuthority, directory: Path, name: str, days: int = 825) -> tuple[str, str]:
    """A client certificate (``clientAuth``) with common name ``name``, as ``<name>.crt``/``<name>.key``."""
    return _issue(ca, directory, name, name, "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n", days)
