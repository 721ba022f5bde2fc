"""Why a TLS connection to the broker fails, in words a user can act on.

The MQTT client retries a failed TLS handshake quietly (the SSL error is not
handed to the application), so a node with a wrong CA file or a missing
client certificate would only see "no connection". When a connection
times out, :class:`~sparrow.common.transport.Transport` calls
:func:`tls_problem`, which makes one handshake of its own with the same
files and reports what the TLS layer said.
"""
from __future__ import annotations

import socket
import ssl

from sparrow.common.config import BrokerConfig

__all__ = ["tls_problem"]


def tls_problem(config: BrokerConfig, timeout_s: float = 2.0) -> str | None:
    """Describe why a TLS handshake with ``config``'s broker fails; None when it succeeds.

    Uses ``config.tls_ca`` (and ``tls_cert``/``tls_key`` when given) the way
    the MQTT client does: the broker's certificate must chain to the CA and
    match ``config.host``. After the handshake it waits briefly for the
    broker's verdict, because under TLS 1.3 a broker that rejects the
    client's certificate says so only after the client's side has finished.
    Returns None as well when ``config`` has no TLS.
    """
    if config.tls_ca is None:
        return None
    try:
        context = ssl.create_default_context(cafile=config.tls_ca)
        if config.tls_cert is not None:
            context.load_cert_chain(config.tls_cert, config.tls_key)
    except OSError as exc:  # ssl.SSLError included
        return f"the TLS files cannot be used: {exc}"
    try:
        with socket.create_connection((config.host, config.port), timeout=timeout_s) as raw:
            with context.wrap_socket(raw, server_hostname=config.host) as tls:
                tls.settimeout(0.5)
                try:
                    if tls.recv(1) == b"":
                        return "the broker closed the connection right after the TLS handshake"
                except TimeoutError:
                    pass  # the broker kept the connection open: it accepted the handshake
                return None
    except ssl.SSLCertVerificationError as exc:
        return f"the broker's certificate is not trusted: {exc.verify_message}"
    except ssl.SSLError as exc:
        reason = (exc.reason or str(exc)).lower().replace("_", " ")
        hint = (" (the broker wants a client certificate: set tls_cert and tls_key)"
                if "certificate required" in reason and config.tls_cert is None else "")
        return f"the TLS handshake failed: {reason}{hint}"
    except OSError as exc:
        return f"no TLS connection: {exc}"
