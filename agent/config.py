"""Typed configuration of the broker link and of a Linux agent.

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

from sparrow.agent.checks import is_integer, is_number, require

__all__ = [
    "AgentConfig",
    "BrokerConfig",
    "COMMS",
    "COMPRESSORS",
    "MODES",
    "SEGMENT_PLANS",
    "SELECTIONS",
    "VALUE_CODINGS",
    "build",
    "load_toml",
    "section",
]

#: Names the agent's compressor registry knows (agent/compressor.py).
COMPRESSORS = ("dense", "exact", "laplace", "partition", "dgc", "random")
#: Value codings of sgc.encode_sparse.
VALUE_CODINGS = ("fp32", "fp16", "int8", "sign")
#: What a node uploads each round: one gradient, or the delta of local SGD steps (agent/local_sgd.py).
MODES = ("gradient", "local_sgd")
#: How a node picks its coordinates: independent top-k, or aggregation-aware (agent/aware.py).
SELECTIONS = ("topk", "aware")

#: How a node's messages are cut: one message per direction, or DynaComm segments of layers (agent/segmented.py).
COMMS = ("single", "segmented")
#: Which segmentation a ``segmented`` node uses: the DynaComm plan, or a fixed baseline (agent/dynacomm.py).
SEGMENT_PLANS = ("planned", "per_layer", "one_message")

_JOB_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

T = TypeVar("T")


def _positive(name: str, value: float) -> None:
    require(is_number(value) and value > 0, f"{name} must be a finite number > 0, got {value!r}")


def _int_at_least(name: str, value: int, low: int) -> None:
    require(is_integer(value) and value >= low, f"{name} must be an integer >= {low}, got {value!r}")


def _optional_file(name: str, value: str | None) -> None:
    if value is not None:
        require(isinstance(value, str) and os.path.isfile(value), f"{name}: no such file {value!r}")


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
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    username: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        require(isinstance(self.host, str) and bool(self.host), f"broker.host must be a non-empty string, got {self.host!r}")
        _int_at_least("broker.port", self.port, 1)
        require(self.port <= 65535, f"broker.port must be <= 65535, got {self.port}")
        require(isinstance(self.job, str) and bool(_JOB_RE.match(self.job)),
                 f"broker.job must be 1-64 characters of [A-Za-z0-9_.-] (it is a topic level), got {self.job!r}")
        _int_at_least("broker.keepalive_s", self.keepalive_s, 1)
        _int_at_least("broker.session_expiry_s", self.session_expiry_s, 0)
        _int_at_least("broker.max_packet", self.max_packet, 128)
        _positive("broker.reconnect_min_s", self.reconnect_min_s)
        _positive("broker.reconnect_max_s", self.reconnect_max_s)
        require(self.reconnect_max_s >= self.reconnect_min_s,
                 "broker.reconnect_max_s must be >= broker.reconnect_min_s")
        for name in ("tls_ca", "tls_cert", "tls_key"):
            _optional_file(f"broker.{name}", getattr(self, name))
        require((self.tls_cert is None) == (self.tls_key is None),
                 "broker.tls_cert and broker.tls_key go together: give both or neither")
        require(self.tls_cert is None or self.tls_ca is not None,
                 "broker.tls_cert needs broker.tls_ca (TLS is enabled by the CA file)")
        require(self.password is None or self.username is not None,
                 "broker.password needs broker.username")


@dataclass(frozen=True)
class AgentConfig:
    """One Linux agent: its identity, its data shard and its compressor.

    Parameters
    ----------
    device_id : int
        Unique node id in the job (the frame header's device id and the
        last topic level of its update and status topics).
    dataset : str
        Data set name for ``agent.datasets.load``.
    model : str
        Model name for ``agent.modelspec.get_spec``; must match the host's.
    num_nodes, node_index : int
        The partition is cut into ``num_nodes`` shares; this node holds
        share ``node_index``.
    partition : str
        ``"iid"``, ``"dirichlet"`` or ``"group"``.
    alpha : float
        Dirichlet concentration.
    partition_seed : int
        Seed of the partition (must be the same on every node of a job).
    compressor : str
        One of :data:`COMPRESSORS`; ``"dense"`` sends every coordinate.
    density : float
        Share of coordinates sent per update (0 < density <= 1).
    momentum : float
        Momentum correction of the residual memory (DGC), 0 to disable.
    per_layer : bool
        Select the top coordinates in each layer separately (else over the
        whole model).
    value_coding : str
        One of :data:`VALUE_CODINGS`.
    seed : int
        Seed of this node's mini-batch sampling.
    exit_when_done : bool
        Leave when the host announces the end of the job.
    mode : str
        ``"gradient"`` (one mini-batch gradient per round) or ``"local_sgd"``
        (model averaging: ``local_steps`` SGD steps, then the compressed
        model delta; the host must run ``mode = "average"``).
    local_steps, warmup_rounds : int
        Local SGD steps per round, and synchronous one-step rounds first
        (post-local SGD); ``local_sgd`` mode only.
    local_lr : float
        Learning rate of the local SGD steps.
    selection : str
        ``"topk"`` (independent) or ``"aware"`` (favour the global support
        the host publishes; the host must run ``selection = "aware"``).
    popularity_boost, persistence_boost, persistence_decay : float
        Scoring of ``aware`` selection (docs/methods.md).
    comm : str
        ``"single"`` (one update frame per round) or ``"segmented"``
        (DynaComm: the gradient is computed layer by layer and pushed in
        segments as backward produces them; the model is pulled in segments
        by the node's pull plan, sent to the host in its HELLO; gradient
        mode with ``topk`` selection, compressed per layer).
    segment_plan : str
        ``"planned"`` (re-planned from measurements by ``dynacomm.Replanner``),
        ``"per_layer"`` or ``"one_message"``; ``segmented`` only.
    replan_threshold : float
        Relative change of a measured cost that triggers a re-plan.
    """

    device_id: int = 1
    dataset: str = "digits"
    model: str = "mlp_digits"
    num_nodes: int = 1
    node_index: int = 0
    partition: str = "iid"
    alpha: float = 0.5
    partition_seed: int = 0
    compressor: str = "laplace"
    density: float = 0.01
    momentum: float = 0.0
    per_layer: bool = True
    value_coding: str = "fp32"
    seed: int = 0
    exit_when_done: bool = True
    mode: str = "gradient"
    local_steps: int = 4
    warmup_rounds: int = 0
    local_lr: float = 0.05
    selection: str = "topk"
    popularity_boost: float = 4.0
    persistence_boost: float = 4.0
    persistence_decay: float = 0.5
    comm: str = "single"
    segment_plan: str = "planned"
    replan_threshold: float = 0.25

    def __post_init__(self) -> None:
        _int_at_least("agent.device_id", self.device_id, 0)
        require(self.device_id < 2**16, f"agent.device_id must be < 65536, got {self.device_id}")
        require(isinstance(self.dataset, str) and bool(self.dataset), "agent.dataset must be a name")
        require(isinstance(self.model, str) and bool(self.model), "agent.model must be a name")
        _int_at_least("agent.num_nodes", self.num_nodes, 1)
        _int_at_least("agent.node_index", self.node_index, 0)
        require(self.node_index < self.num_nodes,
                 f"agent.node_index must be < agent.num_nodes ({self.num_nodes}), got {self.node_index}")
        require(self.partition in ("iid", "dirichlet", "group"),
                 f"agent.partition must be iid, dirichlet or group, got {self.partition!r}")
        _positive("agent.alpha", self.alpha)
        _int_at_least("agent.partition_seed", self.partition_seed, 0)
        require(self.compressor in COMPRESSORS,
                 f"agent.compressor must be one of {COMPRESSORS}, got {self.compressor!r}")
        _positive("agent.density", self.density)
        require(self.density <= 1.0, f"agent.density must be <= 1, got {self.density}")
        require(isinstance(self.momentum, (int, float)) and 0.0 <= self.momentum < 1.0,
                 f"agent.momentum must be in [0, 1), got {self.momentum!r}")
        require(isinstance(self.per_layer, bool), "agent.per_layer must be true or false")
        require(self.value_coding in VALUE_CODINGS,
                 f"agent.value_coding must be one of {VALUE_CODINGS}, got {self.value_coding!r}")
        _int_at_least("agent.seed", self.seed, 0)
        require(self.mode in MODES, f"agent.mode must be one of {MODES}, got {self.mode!r}")
        _int_at_least("agent.local_steps", self.local_steps, 1)
        _int_at_least("agent.warmup_rounds", self.warmup_rounds, 0)
        _positive("agent.local_lr", self.local_lr)
        require(self.selection in SELECTIONS, f"agent.selection must be one of {SELECTIONS}, got {self.selection!r}")
        require(self.selection == "topk" or self.compressor not in ("dense", "random"),
                 f"agent.selection=aware needs a top-k compressor, not {self.compressor!r}")
        for name in ("popularity_boost", "persistence_boost"):
            value = getattr(self, name)
            require(is_number(value) and value >= 0, f"agent.{name} must be a finite number >= 0, got {value!r}")
        require(isinstance(self.persistence_decay, (int, float)) and 0.0 <= self.persistence_decay < 1.0,
                 f"agent.persistence_decay must be in [0, 1), got {self.persistence_decay!r}")
        require(self.comm in COMMS, f"agent.comm must be one of {COMMS}, got {self.comm!r}")
        require(self.segment_plan in SEGMENT_PLANS,
                 f"agent.segment_plan must be one of {SEGMENT_PLANS}, got {self.segment_plan!r}")
        require(self.comm == "single" or (self.mode == "gradient" and self.selection == "topk"),
                 "agent.comm=segmented needs mode=gradient and selection=topk")
        _positive("agent.replan_threshold", self.replan_threshold)


def load_toml(path: str | None) -> dict[str, Any]:
    """Read a TOML config file; ``None`` gives an empty config.

    Raises
    ------
    ValueError
        If the file cannot be parsed (the message names the file).
    """
    if path is None:
        return {}
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
