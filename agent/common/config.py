"""Typed configuration plumbing and the broker link, shared by host and nodes.

Every field is validated on construction and raises a ValueError that names
the field, so a wrong TOML file or flag fails at start-up, not mid-training.
The same TOML file can hold a ``[broker]`` table, a ``[host]`` table and an
``[agent]`` table (see docs/host.md); :func:`section` picks one and
:func:`build` turns it into a dataclass, refusing unknown keys.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass
from typing import Any, Mapping, TypeVar

from sparrow.common.checks import int_at_least, one_of, optional_file, positive, require

__all__ = ["BrokerConfig", "build", "check_choices", "choice", "load_toml", "section"]

_JOB_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

T = TypeVar("T")


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how to reach the MQTT broker.

    Parameters
    ----------
    host, port : str, int
        Broker address.
    job : str
        Job name: the second level of every topic (``sparrow/<job>/...``).
    keepalive_s : int
        MQTT keep-alive; the broker fires a client's Last Will after 1.5x this.
    session_expiry_s : int
        MQTT 5 session expiry: how long the broker keeps a disconnected
        client's subscriptions and queued QoS 1 messages.
    max_packet : int
        Largest MQTT payload this client publishes; frames above it are split
        with ``sgc.chunk``.
    reconnect_min_s, reconnect_max_s : float
        Exponential reconnect back-off bounds.
    connect_timeout_s : float
        How long the host and an agent wait for the first connection at
        start before they give up with one line naming the reason (0: wait
        for ever). Later disconnections are retried without limit.
    tls_ca, tls_cert, tls_key : str or None
        PEM files; TLS is on when ``tls_ca`` is given.
    username, password : str or None
        MQTT credentials.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    job: str = "sparrow"
    keepalive_s: int = 10
    session_expiry_s: int = 600
    max_packet: int = 16384
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 10.0
    connect_timeout_s: float = 30.0
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    username: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        require(isinstance(self.host, str) and bool(self.host), f"broker.host must be a non-empty string, got {self.host!r}")
        int_at_least("broker.port", self.port, 1)
        require(self.port <= 65535, f"broker.port must be <= 65535, got {self.port}")
        require(isinstance(self.job, str) and bool(_JOB_RE.match(self.job)),
                 f"broker.job must be 1-64 characters of [A-Za-z0-9_.-] (it is a topic level), got {self.job!r}")
        int_at_least("broker.keepalive_s", self.keepalive_s, 1)
        int_at_least("broker.session_expiry_s", self.session_expiry_s, 0)
        int_at_least("broker.max_packet", self.max_packet, 128)
        positive("broker.reconnect_min_s", self.reconnect_min_s)
        positive("broker.reconnect_max_s", self.reconnect_max_s)
        require(isinstance(self.connect_timeout_s, (int, float)) and not isinstance(self.connect_timeout_s, bool)
                and 0 <= self.connect_timeout_s < float("inf"),
                f"broker.connect_timeout_s must be a number >= 0, got {self.connect_timeout_s!r}")
        require(self.reconnect_max_s >= self.reconnect_min_s,
                 "broker.reconnect_max_s must be >= broker.reconnect_min_s")
        for name in ("tls_ca", "tls_cert", "tls_key"):
            optional_file(f"broker.{name}", getattr(self, name))
        require((self.tls_cert is None) == (self.tls_key is None),
                 "broker.tls_cert and broker.tls_key go together: give both or neither")
        require(self.tls_cert is None or self.tls_ca is not None,
                 "broker.tls_cert needs broker.tls_ca (TLS is enabled by the CA file)")
        require(self.password is None or self.username is not None,
                 "broker.password needs broker.username")


def load_toml(path: str | None) -> dict[str, Any]:
    """Read a TOML config file; ``None`` gives an empty config.

    Raises
    ------
    ValueError
        If the file is missing, unreadable or cannot be parsed (the message
        names the file).
    """
    if path is None:
        return {}
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such config file")
    with open(path, "rb") as handle:
        try:
            return tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: {exc}") from None


def section(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The table ``[name]`` of a parsed config file (empty when absent)."""
    table = config.get(name, {})
    require(isinstance(table, Mapping), f"config: [{name}] must be a table")
    return dict(table)


def build(cls: type[T], values: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> T:
    """Build config dataclass ``cls`` from a table plus non-None overrides.

    Raises
    ------
    ValueError
        For a key ``cls`` does not have (the message lists the known ones),
        or any invalid value.
    """
    merged = dict(values)
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(merged) - known)
    require(not unknown, f"{cls.__name__}: unknown keys {unknown}; known keys: {sorted(known)}")
    return cls(**merged)


def choice(default: str, registry: Mapping[str, Any]) -> Any:
    """A config field whose names come from ``registry``, the registry that implements the option.

    :func:`check_choices` validates the field against it and the command
    line lists its names (``sparrow.common.cli.add_config_flags``).
    """
    return dataclasses.field(default=default, metadata={"choices": registry})


def check_choices(config: Any, table: str) -> None:
    """Raise ValueError naming ``<table>.<field>`` for a name its registry does not hold."""
    for option in dataclasses.fields(config):
        if "choices" in option.metadata:
            one_of(f"{table}.{option.name}", getattr(config, option.name), option.metadata["choices"])
