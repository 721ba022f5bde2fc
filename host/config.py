"""Typed configuration of the host trainer/aggregator (table ``[host]``).

Validated on construction (a ValueError names the field); the resolved
configuration is logged once at start-up and saved in the run directory.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sgc

from sparrow.common.checks import is_integer, is_number, require
from sparrow.common.config import check_choices, choice
from sparrow.host.downlink import DELTA_CODINGS, DOWNLINKS
from sparrow.host.modes import COMMS, LATE_POLICIES, MODES, SELECTIONS
from sparrow.host.policy import POLICIES
from sparrow.host.schedule import SCHEDULES

__all__ = ["HostConfig"]


@dataclass(frozen=True)
class HostConfig:
    """What the host trains and how it runs rounds.

    Parameters
    ----------
    dataset : str
        A bundled data set (``sparrow.common.datasets``) whose test split the
        host evaluates on and whose class count sizes a registered model;
        empty for a job with its own data (see ``val_data``).
    model : str
        A registered model name, a description file (``.json``/``.toml``) or
        ``path/to/model.py:build`` (docs/own-job.md). Nodes learn it from the
        host's retained description.
    val_data : str
        A validation file the host evaluates on (``.npz``, ``.csv``, a folder
        of ``.npy`` per class: ``sparrow.common.data_sources``); it takes the
        place of the data set's test split. Without either there is no
        evaluation: accuracy is reported as unknown.
    label_column : str
        Label column of a CSV ``val_data``.
    rounds : int
        Optimizer steps to take (one per round).
    lr, momentum, weight_decay : float
        SGD hyper-parameters (PyTorch ``torch.optim.SGD``).
    lr_schedule : str
        ``"constant"`` or ``"cosine"`` (``host/schedule.py``): the rate of
        each round's optimizer step, from ``lr`` in round 1 (gradient mode).
    batch_size : int
        Mini-batch size each agent uses per round (sent in ROUND_OPEN).
    seed : int
        Seed of the initial parameters (``init_params``).
    device : str
        ``"cpu"`` or ``"cuda"`` (or ``"cuda:N"``) for the model and evaluation.
    downlink : str
        ``"delta"`` (the default: a sparse model delta with error feedback
        on the host, host/downlink.py), ``"dense32"`` or ``"dense16"``.
    downlink_method, downlink_density : str, float
        Selector and density of the ``delta`` downlink.
    downlink_value_coding : str
        ``"fp32"``, ``"fp16"`` or ``"int8"`` values of the ``delta`` downlink.
    downlink_min_coords : int
        A ``delta`` carries at least this many coordinates (all of a model
        smaller than that), however low the density.
    downlink_refresh_rounds : int
        Every this many rounds the ``delta`` downlink sends the dense fp32
        model instead (0: never).
    downlink_refresh_gap : float
        Also send the dense model when the gap between the host's model and
        the nodes' copy exceeds this share of the model's norm (0: never).
    policy : str
        ``"quorum"``: close at ``max(min_nodes, ceil(fraction * online))``
        updates or at the deadline; ``"deadline"``: wait for the deadline
        unless every online node has answered.
    min_nodes : int
        Updates a quorum needs at least, and nodes that must be online
        before the first round opens.
    fraction : float
        Share of the online nodes a quorum needs (0 < fraction <= 1).
    deadline_s : float
        A round closes at its deadline with whatever arrived (at least one
        update; with none, the round is re-announced and waits on).
    start_timeout_s : float
        How long to wait for ``min_nodes`` before starting with fewer.
    late : str
        ``"apply"`` late updates (weighted by staleness, up to
        ``max_staleness`` rounds) or ``"drop"`` them; both are counted.
    max_staleness : int
        Oldest late update applied, in rounds.
    eval_every : int
        Evaluate on the test split every this many rounds (and at the end).
    run_dir : str
        Where metrics.jsonl, summary.json, plots and checkpoint.pt go.
    progress : bool
        Show a live tqdm progress bar.
    mode : str
        ``"gradient"``: updates are gradients, the optimizer steps on their
        mean; ``"average"``: updates are model deltas of local SGD
        (``MSG_SPARSE_MODEL_DELTA``), the model moves by ``server_lr`` times
        their mean (agents run ``mode = "average"`` too).
    server_lr : float
        Step on the mean delta in ``average`` mode (1: plain averaging).
    selection : str
        ``"aware"`` publishes each round's global-support summary on
        ``sparrow/<job>/support`` for aggregation-aware agents.
    support_size : int
        Coordinates in that summary; 0 uses the largest update of the round.
    comm : str
        ``"segmented"`` (DynaComm): after the broadcast, each node that sent
        a pull plan in its HELLO also gets the new model on its
        ``sync/<device>`` topic as one dense fp32 frame per segment of its
        own plan (agents run ``comm = "segmented"``). Segmented updates are
        assembled in either setting.
    device_keys : str
        A key folder (``sparrow.common.keys``): ``<ID>.key`` per node and
        ``job.key``. With it the host tags every frame it sends with the
        job key and checks every node's update and control frame against
        that node's key (docs/security-frames.md). Empty: no tags.
    require_tags : bool
        With ``device_keys``: refuse (reason ``auth``) a node's frame
        without a valid tag, or from a device without a key. False accepts
        untagged frames while a fleet moves to keys; a tag present must
        still verify.
    """

    dataset: str = "digits"
    model: str = "mlp_digits"
    val_data: str = ""
    label_column: str = "label"
    rounds: int = 100
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str = choice("constant", SCHEDULES)
    batch_size: int = 32
    seed: int = 0
    device: str = "cpu"
    downlink: str = choice("delta", DOWNLINKS)
    downlink_method: str = choice("exact", sgc.METHODS)
    downlink_density: float = 0.05
    downlink_value_coding: str = choice("fp16", DELTA_CODINGS)
    downlink_min_coords: int = 1024
    downlink_refresh_rounds: int = 100
    downlink_refresh_gap: float = 0.0
    policy: str = choice("quorum", POLICIES)
    min_nodes: int = 1
    fraction: float = 1.0
    deadline_s: float = 30.0
    start_timeout_s: float = 60.0
    late: str = choice("apply", LATE_POLICIES)
    max_staleness: int = 2
    eval_every: int = 1
    run_dir: str = "runs/sparrow"
    progress: bool = True
    mode: str = choice("gradient", MODES)
    server_lr: float = 1.0
    selection: str = choice("topk", SELECTIONS)
    support_size: int = 0
    comm: str = choice("single", COMMS)
    device_keys: str = ""
    require_tags: bool = True

    def __post_init__(self) -> None:
        check_choices(self, "host")
        require(isinstance(self.dataset, str), "host.dataset must be a name (or empty)")
        require(isinstance(self.val_data, str), "host.val_data must be a path (or empty)")
        require(isinstance(self.label_column, str) and bool(self.label_column), "host.label_column must be a name")
        require(isinstance(self.model, str) and bool(self.model), "host.model must be a name")
        require(is_integer(self.rounds) and self.rounds >= 1, f"host.rounds must be an integer >= 1, got {self.rounds!r}")
        require(is_number(self.lr) and self.lr > 0, f"host.lr must be a finite number > 0, got {self.lr!r}")
        require(is_number(self.momentum) and 0 <= self.momentum < 1, f"host.momentum must be in [0, 1), got {self.momentum!r}")
        require(is_number(self.weight_decay) and self.weight_decay >= 0, f"host.weight_decay must be >= 0, got {self.weight_decay!r}")
        require(is_integer(self.batch_size) and 1 <= self.batch_size <= 65535,
                 f"host.batch_size must be an integer in [1, 65535], got {self.batch_size!r}")
        require(is_integer(self.seed) and self.seed >= 0, f"host.seed must be an integer >= 0, got {self.seed!r}")
        require(isinstance(self.device, str) and (self.device == "cpu" or self.device.startswith("cuda")),
                 f"host.device must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        require(is_number(self.downlink_density) and 0 < self.downlink_density <= 1,
                 f"host.downlink_density must be in (0, 1], got {self.downlink_density!r}")
        require(is_integer(self.downlink_min_coords) and self.downlink_min_coords >= 1,
                f"host.downlink_min_coords must be an integer >= 1, got {self.downlink_min_coords!r}")
        require(is_integer(self.downlink_refresh_rounds) and self.downlink_refresh_rounds >= 0,
                f"host.downlink_refresh_rounds must be an integer >= 0, got {self.downlink_refresh_rounds!r}")
        require(is_number(self.downlink_refresh_gap) and self.downlink_refresh_gap >= 0,
                f"host.downlink_refresh_gap must be a number >= 0, got {self.downlink_refresh_gap!r}")
        require(is_integer(self.min_nodes) and self.min_nodes >= 1, f"host.min_nodes must be an integer >= 1, got {self.min_nodes!r}")
        require(is_number(self.fraction) and 0 < self.fraction <= 1, f"host.fraction must be in (0, 1], got {self.fraction!r}")
        require(is_number(self.deadline_s) and self.deadline_s > 0, f"host.deadline_s must be > 0, got {self.deadline_s!r}")
        require(is_number(self.start_timeout_s) and self.start_timeout_s >= 0,
                 f"host.start_timeout_s must be >= 0, got {self.start_timeout_s!r}")
        require(is_integer(self.max_staleness) and self.max_staleness >= 0,
                 f"host.max_staleness must be an integer >= 0, got {self.max_staleness!r}")
        require(is_integer(self.eval_every) and self.eval_every >= 1, f"host.eval_every must be an integer >= 1, got {self.eval_every!r}")
        require(isinstance(self.run_dir, str) and bool(self.run_dir), "host.run_dir must be a path")
        require(isinstance(self.progress, bool), "host.progress must be true or false")
        require(isinstance(self.device_keys, str), "host.device_keys must be a folder (or empty)")
        require(isinstance(self.require_tags, bool), "host.require_tags must be true or false")
        require(is_number(self.server_lr) and self.server_lr > 0, f"host.server_lr must be > 0, got {self.server_lr!r}")
        require(is_integer(self.support_size) and self.support_size >= 0,
                 f"host.support_size must be an integer >= 0, got {self.support_size!r}")

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-able dict."""
        return asdict(self)
