"""Typed configuration of a Linux agent (table ``[agent]``).

Validated on construction (a ValueError names the field). The option names
come from the registries that implement them (``sparrow.agent.options``).
"""
from __future__ import annotations

from dataclasses import dataclass

import sgc

from sparrow.agent.comms import COMMS
from sparrow.agent.compressor import COMPRESSORS
from sparrow.agent.modes import MODES
from sparrow.agent.segmented_upload import FIXED_PLANS
from sparrow.agent.selections import SELECTIONS
from sparrow.common.checks import int_at_least, is_number, positive, require
from sparrow.common.config import check_choices, choice
from sparrow.common.datasets import SCHEMES

__all__ = ["AgentConfig"]


@dataclass(frozen=True)
class AgentConfig:
    """One Linux agent: its identity, its data shard and its compressor.

    Parameters
    ----------
    device_id : int
        Unique node id in the job, >= 1 (0 is the host's; the frame header's device id and the
        last topic level of its update and status topics).
    dataset : str
        Data set name for ``agent.datasets.load``.
    data : str
        The node's own training data: a path (``data.npz`` with arrays
        ``x`` and ``y``; ``data.csv`` with a header row and a label column;
        a folder of ``<class>.npy`` files) or ``module:function`` /
        ``path/to/file.py:function`` returning ``(x_batch, y_batch)`` pairs
        (read once at start, up to ``data_sources.STREAM_MAX_SAMPLES``
        samples). Empty: the bundled ``dataset``, cut by the partition
        settings below (docs/own-job.md).
    label_column : str
        The column of a CSV ``data`` file that holds the class ids.
    model : str
        Empty (the default): learn the model from the host's retained
        description. Or a registered model name or a description file
        (``.json``/``.toml``), which must then be the host's model.
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
        A name of ``agent/compressor.py``'s ``COMPRESSORS``; ``"dense"`` sends every coordinate.
    density : float
        Share of coordinates sent per update (0 < density <= 1).
    momentum : float
        Momentum correction of the residual memory (DGC), 0 to disable.
    per_layer : bool
        Select the top coordinates in each layer separately (else over the
        whole model).
    value_coding : str
        A name of ``sgc.CODINGS``.
    seed : int
        Seed of this node's mini-batch sampling.
    exit_when_done : bool
        Leave when the host announces the end of the job.
    mode : str
        ``"gradient"`` (one mini-batch gradient per round) or ``"average"``
        (model averaging: ``local_steps`` SGD steps, then the compressed
        model delta; the host must run ``mode = "average"``).
    local_steps, warmup_rounds : int
        Local SGD steps per round, and synchronous one-step rounds first
        (post-local SGD); ``average`` mode only.
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
    key : str
        This node's key file (``sparrow.common.keys``, ``<ID>.key`` of a
        key folder): every update and control frame it sends carries an
        HMAC tag under it (docs/security-frames.md). Empty: no tags.
    job_key : str
        The job's key file (``job.key``): every frame from the host must
        verify under it; one that does not is dropped and counted. Empty:
        frames from the host are not checked.
    """

    device_id: int = 1
    dataset: str = "digits"
    data: str = ""
    label_column: str = "label"
    model: str = ""
    num_nodes: int = 1
    node_index: int = 0
    partition: str = choice("iid", SCHEMES)
    alpha: float = 0.5
    partition_seed: int = 0
    compressor: str = choice("laplace", COMPRESSORS)
    density: float = 0.01
    momentum: float = 0.0
    per_layer: bool = True
    value_coding: str = choice("fp32", sgc.CODINGS)
    seed: int = 0
    exit_when_done: bool = True
    mode: str = choice("gradient", MODES)
    local_steps: int = 4
    warmup_rounds: int = 0
    local_lr: float = 0.05
    selection: str = choice("topk", SELECTIONS)
    popularity_boost: float = 4.0
    persistence_boost: float = 4.0
    persistence_decay: float = 0.5
    comm: str = choice("single", COMMS)
    segment_plan: str = choice("planned", FIXED_PLANS)
    replan_threshold: float = 0.25
    key: str = ""
    job_key: str = ""

    def __post_init__(self) -> None:
        check_choices(self, "agent")
        # 0 is the host's own id in the frames it sends: a node with it could not be told apart.
        int_at_least("agent.device_id", self.device_id, 1)
        require(self.device_id < 2**16, f"agent.device_id must be < 65536, got {self.device_id}")
        require(isinstance(self.dataset, str) and bool(self.dataset), "agent.dataset must be a name")
        require(isinstance(self.data, str), f"agent.data must be a path or module:function, got {self.data!r}")
        require(isinstance(self.label_column, str) and bool(self.label_column),
                f"agent.label_column must be a column name, got {self.label_column!r}")
        require(isinstance(self.model, str), "agent.model must be a name, a file or empty")
        for name in ("key", "job_key"):
            require(isinstance(getattr(self, name), str), f"agent.{name} must be a key file (or empty)")
        int_at_least("agent.num_nodes", self.num_nodes, 1)
        int_at_least("agent.node_index", self.node_index, 0)
        require(self.node_index < self.num_nodes,
                 f"agent.node_index must be < agent.num_nodes ({self.num_nodes}), got {self.node_index}")
        positive("agent.alpha", self.alpha)
        int_at_least("agent.partition_seed", self.partition_seed, 0)
        positive("agent.density", self.density)
        require(self.density <= 1.0, f"agent.density must be <= 1, got {self.density}")
        require(isinstance(self.momentum, (int, float)) and 0.0 <= self.momentum < 1.0,
                 f"agent.momentum must be in [0, 1), got {self.momentum!r}")
        require(isinstance(self.per_layer, bool), "agent.per_layer must be true or false")
        int_at_least("agent.seed", self.seed, 0)
        int_at_least("agent.local_steps", self.local_steps, 1)
        int_at_least("agent.warmup_rounds", self.warmup_rounds, 0)
        positive("agent.local_lr", self.local_lr)
        require(self.selection == "topk" or self.compressor not in ("dense", "random"),
                 f"agent.selection=aware needs a top-k compressor, not {self.compressor!r}")
        for name in ("popularity_boost", "persistence_boost"):
            value = getattr(self, name)
            require(is_number(value) and value >= 0, f"agent.{name} must be a finite number >= 0, got {value!r}")
        require(isinstance(self.persistence_decay, (int, float)) and 0.0 <= self.persistence_decay < 1.0,
                 f"agent.persistence_decay must be in [0, 1), got {self.persistence_decay!r}")
        require(self.comm == "single" or (self.mode == "gradient" and self.selection == "topk"),
                 "agent.comm=segmented needs mode=gradient and selection=topk")
        positive("agent.replan_threshold", self.replan_threshold)
