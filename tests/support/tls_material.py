"""Throwaway TLS certificates and a mosquitto password file, made with ``openssl`` and ``mosquitto_passwd``.

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

__all__ = ["CertificateAuthority", "TlsMaterial", "make_ca", "make_password_file", "make_tls_material"]

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


@dataclass(frozen=True)
class TlsMaterial:
    """One CA and the server and client certificates it issued (all PEM paths)."""

    ca: CertificateAuthority
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def make_ca(directory: Path, name: str = "ca") -> CertificateAuthority:
    """A new self-signed CA as ``<name>.crt`` and ``<name>.key`` in ``directory``."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _openssl("req", "-x509", *_EC_KEY, "-keyout", str(key), "-out", str(cert), "-days", "1",
             "-subj", f"/CN=Sparrow test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return CertificateAuthority(str(cert), str(key))


def _issue(ca: CertificateAuthority, directory: Path, name: str, common_name: str, extensions: str) -> tuple[str, str]:
    """Have ``ca`` sign a new key for ``common_name``; returns (certificate, key) paths."""
    cert, key, request = directory / f"{name}.crt", directory / f"{name}.key", directory / f"{name}.csr"
    ext_file = directory / f"{name}.ext"
    ext_file.write_text(extensions + "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    _openssl("req", "-new", *_EC_KEY, "-keyout", str(key), "-out", str(request), "-subj", f"/CN={common_name}")
    _openssl("x509", "-req", "-in", str(request), "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
             "-out", str(cert), "-days", "1", "-extfile", str(ext_file))
    return str(cert), str(key)


def make_tls_material(directory: Path) -> TlsMaterial:
    """A CA, a server certificate for ``localhost``/``127.0.0.1`` and a client certificate, in ``directory``."""
    ca = make_ca(directory)
    server_cert, server_key = _issue(
        ca, directory, "server", "localhost",
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    client_cert, client_key = _issue(
        ca, directory, "client", "sparrow-agent",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
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
