"""Throwaway TLS certificates and a mosquitto password file, made with ``openssl`` and ``mosquitto_passwd``.

The certificates come from the job-CA helpers of host/fleet_tls.py.

For tests only: every key is unencrypted, every certificate lives one day,
and everything is written into the directory the caller gives (a pytest
``tmp_path``). The certificates are what a deployment would use in small:

* a CA (``basicConstraints CA:TRUE``, ``keyUsage keyCertSign``);
* a server certificate for ``localhost`` and ``127.0.0.1`` (subjectAltName,
  ``serverAuth``), which is what Python's hostname check compares against
  ``BrokerConfig.host``;
* a client certificate (``clientAuth``) for brokers with
  ``require_certificate true``.

Keys are P-256 (EC): fast to generate, accepted by mosquitto and paho.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sparrow.host.fleet_tls import CertificateAuthority, issue_client, issue_server, make_ca

__all__ = ["CertificateAuthority", "TlsMaterial", "make_ca", "make_password_file", "make_tls_material"]


@dataclass(frozen=True)
class TlsMaterial:
    """One CA and the server and client certificates it issued (all PEM paths)."""

    ca: CertificateAuthority
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def make_tls_material(directory: Path) -> TlsMaterial:
    """A CA, a server certificate for ``localhost``/``127.0.0.1`` and a client certificate, in ``directory``."""
    ca = make_ca(directory, common_name="Sparrow test ca", days=1)
    server_cert, server_key = issue_server(ca, directory, ("localhost", "127.0.0.1"), days=1)
    client_cert, client_key = issue_client(ca, directory, "client", days=1)
    return TlsMaterial(ca, server_cert, server_key, client_cert, client_key)


def make_password_file(path: Path, users: dict[str, str]) -> str:
    """A mosquitto password file at ``path`` holding ``users`` (name -> password); returns the path."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise FileNotFoundError("'mosquitto_passwd' not found; install the Debian package 'mosquitto'")
    for index, (name, password) in enumerate(users.items()):
        create = ["-c"] if index == 0 else []
        subprocess.run([tool, "-b", *create, str(path), name, password], check=True, capture_output=True)
    return str(path)
