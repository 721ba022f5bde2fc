"""Run outputs: one JSON line per round, summary.json and two PNG plots."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RoundRecord", "RunLog", "Summary", "plot_run"]


@dataclass(frozen=True)
class RoundRecord:
    """What happened in one round (one line of metrics.jsonl).

    Byte counts are cumulative since the start of the job and cover all
    nodes together: ``bytes_up`` is every update frame that reached the
    host, ``dense_bytes_up`` what the same updates would have cost as dense
    fp32 vectors, ``bytes_down`` every byte the nodes received from the host
    (a broadcast counts once per node online, ``host/traffic.py``) and
    ``dense_bytes_down`` one dense fp32 model per node and round.
    """

    round: int
    closed_by: str
    updates: int
    late_applied: int
    late_dropped: int
    duplicates: int
    rejected: int
    online: int
    accuracy: float | None
    loss: float | None
    bytes_up: int
    dense_bytes_up: int
    bytes_down: int
    dense_bytes_down: int
    round_s: float
    wall_s: float
    train_loss: float | None = None
    train_accuracy: float | None = None


@dataclass(frozen=True)
class Summary:
    """The run's result (summary.json)."""

    final_accuracy: float
    final_loss: float
    best_accuracy: float
    rounds: int
    bytes_up: int
    bytes_down: int
    dense_bytes_up: int
    compression_ratio: float
    wall_s: float
    num_params: int
    updates: int
    late_applied: int
    late_dropped: int
    duplicates: int
    rejected: int
    reject_reasons: dict[str, int] = field(default_factory=dict)
    per_device: dict[str, dict[str, int]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    final_train_loss: float | None = None
    final_train_accuracy: float | None = None
    train_stats_rejected: int = 0
    #: Control frames (HELLO, RESYNC) refused because they do not authenticate.
    control_rejected: int = 0
    #: Nodes that said HELLO; traffic per node is the total over them.
    nodes: int = 0
    dense_bytes_down: int = 0
    down_ratio: float = 0.0
    #: (dense fp32 up + down) / (bytes up + down): the headline ratio, both directions.
    total_ratio: float = 0.0
    bytes_up_per_node: float = 0.0
    bytes_down_per_node: float = 0.0
    total_bytes_per_node: float = 0.0
    #: Bytes the host handed to the broker (each broadcast once).
    published_down: int = 0


class RunLog:
    """Appends round records to ``<run_dir>/metrics.jsonl``.

    Parameters
    ----------
    run_dir : str
        Created when missing.
    resume : bool
        Keep existing lines (a resumed run drops lines past ``keep_rounds``).
    keep_rounds : int
        On resume, the last round already checkpointed.
    """

    def __init__(self, run_dir: str, resume: bool = False, keep_rounds: int = 0) -> None:
        os.makedirs(run_dir, exist_ok=True)
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, "metrics.jsonl")
        self.records: list[dict[str, Any]] = []
        if resume and os.path.exists(self.path):
            with open(self.path) as handle:
                rows = [json.loads(line) for line in handle if line.strip()]
            self.records = [r for r in rows if r["round"] <= keep_rounds]
        with open(self.path, "w") as handle:
            for row in self.records:
                handle.write(json.dumps(row) + "\n")

    def append(self, record: RoundRecord) -> None:
        """Write one round's line (flushed at once)."""
        row = asdict(record)
        self.records.append(row)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(row) + "\n")

    def write_summary(self, summary: Summary) -> str:
        """Write summary.json; returns its path."""
        path = os.path.join(self.run_dir, "summary.json")
        with open(path, "w") as handle:
            json.dump(asdict(summary), handle, indent=2)
        return path


def plot_run(records: list[dict[str, Any]], run_dir: str, title: str = "") -> list[str]:
    """Plot accuracy against rounds and against uploaded bytes (PNG, Agg).

    The test accuracy (where the host evaluated) is a solid line, the nodes'
    training accuracy on their round batches (where they reported it) a
    dashed one.

    Returns
    -------
    list of str
        Paths of the written PNG files (empty when there is nothing to plot).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in records if r["accuracy"] is not None]
    train = [r for r in records if r.get("train_accuracy") is not None]
    if not rows and not train:
        return []
    paths = []
    for x_key, x_label, name in (("round", "round", "accuracy_vs_rounds.png"),
                                 ("bytes_up", "uploaded bytes (all nodes)", "accuracy_vs_bytes.png")):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        if rows:
            ax.plot([r[x_key] for r in rows], [r["accuracy"] for r in rows], marker=".", label="test")
        if train:
            ax.plot([r[x_key] for r in train], [r["train_accuracy"] for r in train], linestyle="--",
                    label="nodes' training batches")
            ax.legend(loc="lower right")
        ax.set_xlabel(x_label)
        ax.set_ylabel("accuracy")
        if x_key == "bytes_up":
            ax.set_xscale("log")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        path = os.path.join(run_dir, name)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
